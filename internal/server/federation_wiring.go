package server

import (
	"context"
	"encoding/json"
	"github.com/myelin-chat/myelin/internal/admin"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/fedauth"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/federation/transport"
	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

// buildFederation wires the transport (keys, X-Matrix, client), the
// inbound Server-Server API, the per-destination sender and the engine's
// commit hook that feeds it.
func (s *Server) buildFederation(ctx context.Context, acct accounts.Store) (*remote.Remote, error) {
	var snd *sender.Sender
	tr, err := transport.New(ctx, transport.Options{Config: s.Config, Key: s.Key, DB: s.DB, Log: s.Log, Now: s.Now,
		Version: Version, OnOrigin: func(_ context.Context, origin string) {
			if snd != nil {
				snd.MarkAlive(origin)
			}
		}})
	if err != nil {
		return nil, err
	}
	s.closeFns = append(s.closeFns, tr.Close)
	rem := &remote.Remote{ServerName: s.Config.ServerName, Key: s.Key, Client: tr.Client, KeyRing: tr.KeyRing, Engine: s.Rooms, Log: s.Log}
	// Local events in rooms using a Policy Server wait for its signature;
	// received ones without it are asked for one, then soft-failed.
	s.Rooms.SetPolicySigner(rem)

	queue, err := fedqueue.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	// Destinations are computed here rather than by the sender, so that a
	// relayed join can leave out the joining server, which has it already.
	snd = sender.New(sender.Config{ServerName: s.Config.ServerName, Store: queue, Transport: rem,
		Now: s.Now, Log: s.Log, Registerer: s.Metrics})
	s.Sender = snd
	s.fedAdmin = &admin.Federation{Queue: queue, Sender: snd}
	s.outbox = newOutbox(s.Rooms.Store(), s.Log)
	invites := invitepermission.New(userData{acct})
	if s.tpInvites, err = s.buildThirdPartyInvites(rem, invites); err != nil {
		return nil, err
	}

	// Events we originate go to every server in the room, plus the server
	// of a member event's subject (an invitee, or someone just removed,
	// whom the room no longer lists). Both are in the commit's Wake list
	// (the room's joined members and the subject), taken from the room's
	// in-memory state, so the send path costs no query; a room with only
	// local members queues nothing.
	s.Rooms.OnCommit(func(batch []rooms.Committed) {
		var pdus []sender.PDU
		for _, c := range batch {
			if domainOf(c.Event.Sender()) != s.Config.ServerName {
				continue
			}
			seen := map[string]bool{s.Config.ServerName: true}
			var dests []string
			for _, u := range c.Wake {
				if d := domainOf(u); !seen[d] {
					seen[d] = true
					dests = append(dests, d)
				}
			}
			if len(dests) > 0 {
				pdus = append(pdus, sender.PDU{Event: c.Event, StreamPos: c.StreamPos, Destinations: dests})
			}
		}
		if len(pdus) == 0 {
			return
		}
		if err := snd.SendPDUs(context.Background(), pdus); err != nil {
			// They stay in the outbox and are queued at the next start.
			s.Log.Error("queueing events for federation failed", "err", err)
			return
		}
		positions := make([]int64, len(pdus))
		for i, p := range pdus {
			positions[i] = p.StreamPos
		}
		s.outbox.queued(positions)
	})

	fedRouter := httpapi.NewRouter(httpapi.Options{Logger: s.Log, Metrics: s.Metrics, Now: s.Now})
	tr.RegisterPublic(fedRouter)
	api := &federationapi.API{Engine: s.Rooms, ServerName: s.Config.ServerName, Verify: rem, Remote: rem.Fetcher,
		Origin: fedauth.OriginOf, Auth: tr.Auth.RequireServerAuth, Profiles: profiles{acct}, Log: s.Log, Now: s.Now,
		Appservices:               s.appserviceQueries,
		InvitePermission:          invites,
		PublicRoomsOverFederation: s.Config.AllowPublicRoomsOverFederation, Limits: s.Limits,
		Throttle: newFederationThrottle(s.Config.RCFederation, s.Now), Metrics: federationapi.NewMetrics(s.Metrics),
		ThirdPartyInvites: s.tpInvites,
		OnAccepted: func(ctx context.Context, ev *event.Event) {
			// Relay a remote user's join/leave to the room's other servers
			// (not back to its own, which sent it to us).
			servers, err := s.Rooms.ServersInRoom(ctx, ev.RoomID())
			if err != nil {
				s.Log.Error("listing a room's servers failed", "err", err)
				return
			}
			var dests []string
			for _, d := range servers {
				if d != domainOf(ev.Sender()) {
					dests = append(dests, d)
				}
			}
			if err := snd.SendPDU(ctx, ev, dests); err != nil {
				s.Log.Error("relaying a membership event failed", "err", err)
			}
		}}
	api.Register(fedRouter)
	s.fedAPI = api
	s.Federation = fedRouter
	return rem, nil
}

// Version is this build's version, reported to other servers
// (/_matrix/federation/v1/version), to admins (server_version) and in the
// start-up log. cmd/myelin sets it to what "myelin version" prints, so
// there is one version string everywhere.
var Version = "dev"

type profiles struct{ acct accounts.Store }

func (p profiles) DisplayNameAndAvatar(ctx context.Context, userID string) (string, string, error) {
	u, err := p.acct.GetUser(ctx, userID)
	if err != nil {
		return "", "", err
	}
	return u.DisplayName, u.AvatarURL, nil
}

func (p profiles) ProfileFields(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	return p.acct.ProfileFields(ctx, userID)
}

func domainOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}

// splitHandler serves federation and key paths from one router and the
// rest from another, for a listener that carries both resources.
func splitHandler(client, federation http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_matrix/federation/") || strings.HasPrefix(r.URL.Path, "/_matrix/key/") {
			federation.ServeHTTP(w, r)
			return
		}
		client.ServeHTTP(w, r)
	})
}
