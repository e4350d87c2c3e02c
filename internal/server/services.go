package server

import (
	"context"
	"net/http"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/streams"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/tags"
	"github.com/prometheus/client_golang/prometheus"
)

func (s *Server) buildServices(ctx context.Context, roomStore *roomstore.Store) error {
	cfg := s.Config
	acct, err := accounts.New(ctx, s.DB)
	if err != nil {
		return err
	}
	top, err := maxStreamPos(ctx, roomStore.MaxStreamPos, acct.MaxAccountDataPos)
	if err != nil {
		return err
	}
	s.Rooms = rooms.New(rooms.Config{Store: roomStore, ServerName: cfg.ServerName, Key: s.Key,
		Stream: streams.NewTracker(top), Notifier: streams.NewNotifier(), Now: s.Now, Log: s.Log})
	s.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "myelin", Subsystem: "rooms", Name: "in_memory",
		Help: "Rooms whose writer and current state are in memory; idle rooms leave after a while.",
	}, func() float64 { return float64(s.Rooms.RoomsInMemory()) }))
	s.startSearchBackfill()
	ud := userData{store: acct}
	rel, err := s.buildRelations(ctx, roomStore, ud)
	if err != nil {
		return err
	}
	e2eeSvc, err := s.buildE2EE(ctx, acct)
	if err != nil {
		return err
	}

	s.Limits = ratelimit.New(rateLimits(cfg), s.Now)
	s.Limits.SetOverrides(overrideLoader(acct))
	s.Rooms.OnCommit(countJoins(s.Limits))
	router := httpapi.NewRouter(httpapi.Options{Logger: s.Log, Metrics: s.Metrics, Now: s.Now,
		TrustForwardedFor: anyXForwarded(cfg)})
	pushRules := push.NewRules(ud, s.Rooms.Stream(), s.Rooms.Notifier())
	pstore, err := pushstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	s.roomPurgers = append(s.roomPurgers, pstore, acct)
	pushers := push.NewPushers(pstore, s.Now)
	backups, err := s.buildKeyBackup(ctx)
	if err != nil {
		return err
	}
	dir, err := s.buildUserDirectory(ctx, acct)
	if err != nil {
		return err
	}
	registered, deactivated, profile := registerHooks{pushRules}, deactivateHooks{backups}, profileHooks{}
	if dir != nil {
		registered, deactivated, profile = append(registered, dir), append(deactivated, dir), append(profile, dir)
	}
	resolver, err := s.registerAccountAPI(router, acct, devicesAndPushers{e2eeSvc, pushers}, e2eeSvc, registered, deactivated, profile)
	if err != nil {
		return err
	}
	s.registerUserDirectoryAPI(router, resolver, dir)
	tagSvc := tags.New(ud, s.Rooms)
	(&clientapi.TagsAPI{Auth: resolver, Tags: tagSvc}).Register(router)
	notices := s.buildServerNotices(resolver, tagSvc)
	(&clientapi.MutualRoomsAPI{Auth: resolver, Engine: s.Rooms}).Register(router)
	reportSvc, err := s.buildReports(ctx, router, resolver, acct)
	if err != nil {
		return err
	}
	defaultVersion := roomversion.Default
	if cfg.DefaultRoomVersion != "" {
		defaultVersion = roomversion.ID(cfg.DefaultRoomVersion)
	}
	view := clientAccountData{ud}
	s.Syncer = syncapi.New(s.Rooms, view, s.Now)
	invites := invitepermission.New(ud)
	s.Syncer.SetInvitePermission(invites)
	s.registerCoreMetrics(roomStore, s.Rooms, s.Syncer)
	s.Syncer.SetBundler(rel)
	roomAPI := &clientapi.RoomAPI{
		Engine: s.Rooms, Syncer: s.Syncer, Auth: resolver,
		Profiles: ud, Filters: ud, AccountData: view, DefaultVersion: defaultVersion,
		AllowPublicRoomsWithoutAuth: cfg.AllowPublicRoomsWithoutAuth, Now: s.Now, Log: s.Log,
		Limits: s.Limits, Relations: rel, Appservices: s.Appservices, AppserviceQueries: s.appserviceQueries,
		InvitePermission: invites, UpgradeCopier: upgradeCopier{tags: tagSvc, rules: pushRules},
	}
	if notices != nil {
		roomAPI.NoticeRooms = notices
	}
	rem, err := s.buildFederation(ctx, acct)
	if err != nil {
		return err
	}
	roomAPI.Fed = rem
	roomAPI.ThirdPartyInvites = s.tpInvites
	resolver.SetRemoteProfiles(rem)
	s.wireE2EE(e2eeSvc, router, resolver)
	s.wireKeyBackup(backups, router, resolver)
	if err := s.buildMedia(ctx, router, resolver, rem, acct); err != nil {
		return err
	}
	s.wireDeviceLists(e2eeSvc, rem)
	if err := s.buildOpenID(ctx, router, resolver); err != nil {
		return err
	}
	roomAPI.History = &history{rooms: s.Rooms, remote: rem, self: cfg.ServerName, log: s.Log, now: s.Now}
	roomAPI.Register(router)
	s.registerSearchAPI(router, resolver, ud, rel)
	spacesSvc, err := s.buildSpaces(ctx, router, resolver, rem)
	if err != nil {
		return err
	}
	roomAPI.GuestProbe = spacesSvc
	s.wireGuestEviction(acct)
	pushAPI := &clientapi.PushRulesAPI{Auth: resolver, Rules: pushRules}
	pushAPI.Register(router)
	if err := s.wireVoIP(router, resolver); err != nil {
		return err
	}
	if err := s.buildEphemeral(ctx, router, resolver, ud, pushWiring{rules: pushRules, store: pstore, pushers: pushers, bundler: rel}, e2eeSvc); err != nil {
		return err
	}
	roomAPI.Presence = s.presence
	s.wireAppservices(router, resolver)
	if err := s.registerAdminAPI(ctx, router, resolver, adminDeps{pushers: pushers, reports: reportSvc, notices: notices}); err != nil {
		return err
	}
	router.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
	})
	s.Client = router
	return nil
}

// anyXForwarded reports whether a listener trusts X-Forwarded-For. The
// client router is shared by all HTTP listeners, so one proxied listener
// turns it on for all; operators put proxied and direct listeners on
// separate processes if that matters.
func anyXForwarded(cfg *config.Config) bool {
	for _, l := range cfg.Listeners {
		if l.XForwarded {
			return true
		}
	}
	return false
}
