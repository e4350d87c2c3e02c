package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/users"
)

// pushWiring is what buildServices made of push before the rest.
type pushWiring struct {
	rules   *push.Rules
	store   *pushstore.Store
	pushers *push.Pushers
	bundler syncapi.Bundler
}

// buildPush wires push evaluation: local events evaluated in their own
// commit, the notifier that follows the room stream for the rest, their
// counts in /sync, and the push endpoints.
func (s *Server) buildPush(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver,
	pw pushWiring, rcpt *receipts.Service, rstore *receiptstore.Store, ignored ignoredUsers) error {
	var d *push.Delivery
	n, err := push.NewNotifier(ctx, push.NotifierConfig{Store: pw.store, Rooms: s.Rooms, Rules: pw.rules,
		ThreadOf: rcpt.ThreadOf, Receipts: rstore, ReceiptsAt: rcpt.Current, Ignoring: ignored.Ignoring, Queued: func() { d.Queued() }, Now: s.Now, Log: s.Log})
	if err != nil {
		return err
	}
	// Local events are evaluated before they are written, and their
	// notifications written in their own transaction.
	s.Rooms.SetPreCommitter(n)
	// Pushes go out through the same IP policy as every outbound request
	// (Synapse applies ip_range_blacklist to push gateways too).
	d = push.NewDelivery(push.DeliveryConfig{Store: pw.store, Notifier: n,
		Guard: netguard.New(s.Config.IPRangeBlacklist, s.Config.IPRangeWhitelist), Now: s.Now, Log: s.Log})
	if err := n.Start(ctx); err != nil {
		return err
	}
	d.Start()
	s.closeFns = append(s.closeFns, n.Close, d.Close)
	s.Syncer.AddStream(n)
	s.Syncer.SetUnreadCounter(n)
	api := &clientapi.PushAPI{Auth: resolver, Engine: s.Rooms, Notifications: n, Pushers: pw.pushers, Now: s.Now,
		Bundler: pw.bundler}
	api.Register(router)
	return nil
}

// devicesAndPushers runs the end-to-end keys' device hook and removes the
// pushers of deleted devices.
type devicesAndPushers struct {
	users.DeviceHook
	pushers *push.Pushers
}

func (d devicesAndPushers) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	err := d.DeviceHook.OnDevicesDeleted(ctx, userID, deviceIDs)
	if perr := d.pushers.OnDevicesDeleted(ctx, userID, deviceIDs); err == nil {
		err = perr
	}
	return err
}
