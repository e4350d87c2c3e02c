package server

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/presence"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/storage/presencestore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/typing"
)

// How often typing and presence timeouts are checked.
const (
	typingTick   = time.Second
	presenceTick = 5 * time.Second
)

// buildEphemeral wires typing notices, receipts and presence: their
// services, /sync streams, client endpoints and EDU handlers.
func (s *Server) buildEphemeral(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, ud userData, pw pushWiring,
	e2eeSvc *e2ee.Service) error {
	s.Syncer.SetIgnoredUsers(ignoredUsers{ud})
	var edus typing.EDUSender
	if s.Sender != nil {
		edus = s.Sender
	}
	typ := typing.New(typing.Config{Rooms: s.Rooms, ServerName: s.Config.ServerName, Sender: edus, Now: s.Now, Log: s.Log})
	typ.Start(typingTick)
	s.closeFns = append(s.closeFns, typ.Close)
	s.Rooms.OnCommit(typ.StopOnCommit)
	s.Syncer.AddStream(typ)
	if s.fedAPI != nil {
		s.fedAPI.HandleEDU(typing.EDUType, typ.HandleEDU)
	}

	rstore, err := receiptstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	s.roomPurgers = append(s.roomPurgers, rstore)
	var redus receipts.EDUSender
	if s.Sender != nil {
		redus = s.Sender
	}
	rcpt, err := receipts.New(ctx, receipts.Config{Store: rstore, Rooms: s.Rooms, AccountData: ud,
		ServerName: s.Config.ServerName, Sender: redus, Now: s.Now, Log: s.Log})
	if err != nil {
		return err
	}
	s.Syncer.AddStream(rcpt)
	if s.fedAPI != nil {
		s.fedAPI.HandleEDU(receipts.EDUType, rcpt.HandleEDU)
		// Other servers' receipts for events that had not arrived yet.
		if err := rcpt.Start(ctx); err != nil {
			return err
		}
		s.closeFns = append(s.closeFns, rcpt.Close)
	}

	pstore, err := presencestore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	var pedus presence.EDUSender
	if s.Sender != nil {
		pedus = s.Sender
	}
	pres, err := presence.New(ctx, presence.Config{Store: pstore, Rooms: s.Rooms, ServerName: s.Config.ServerName,
		Enabled: s.Config.Presence.Enabled, Sender: pedus, Now: s.Now, Log: s.Log})
	if err != nil {
		return err
	}
	pres.Start(presenceTick)
	s.presence = pres
	s.closeFns = append(s.closeFns, pres.Close)
	s.Rooms.OnCommit(pres.ActiveOnCommit)
	s.Rooms.OnCommit(pres.JoinsOnCommit)
	s.Syncer.AddStream(pres)
	s.Syncer.SetSyncTracker(pres)
	if s.fedAPI != nil && s.Config.Presence.Enabled {
		s.fedAPI.HandleEDU(presence.EDUType, pres.HandleEDU)
	}

	api := &clientapi.EphemeralAPI{Auth: resolver, Typing: typ, Receipts: rcpt, Presence: pres}
	api.Register(router)
	if err := s.buildAppserviceTxns(ctx, typ, pres, rcpt, rstore, e2eeSvc); err != nil {
		return err
	}
	return s.buildPush(ctx, router, resolver, pw, rcpt, rstore, ignoredUsers{ud})
}

// ignoredUsers reads m.ignored_user_list (client-server-api "Ignoring
// Users") for the /sync streams and the push notifier.
type ignoredUsers struct{ ud userData }

func (i ignoredUsers) IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	raw, err := i.ud.AccountData(ctx, userID, "", syncapi.IgnoredUserListType)
	if err != nil || raw == nil {
		return nil, err
	}
	return syncapi.ParseIgnoredUsers(raw), nil
}

// Ignoring reports which of recipients ignore sender, in one query
// (push.NotifierConfig.Ignoring).
func (i ignoredUsers) Ignoring(ctx context.Context, recipients []string, sender string) (map[string]bool, error) {
	lists, err := i.ud.store.GlobalAccountDataOf(ctx, recipients, syncapi.IgnoredUserListType)
	if err != nil {
		return nil, err
	}
	var out map[string]bool
	for u, raw := range lists {
		if syncapi.ParseIgnoredUsers(raw)[sender] {
			if out == nil {
				out = map[string]bool{}
			}
			out[u] = true
		}
	}
	return out, nil
}
