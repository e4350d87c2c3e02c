package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/relations"
	"github.com/myelin-chat/myelin/internal/storage/relationstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// buildRelations wires the relations index into the room store's writes
// (before any write) and starts indexing what was stored before it.
func (s *Server) buildRelations(ctx context.Context, roomStore *roomstore.Store, ud userData) (*relations.Service, error) {
	store, err := relationstore.New(ctx, s.DB, roomStore.SenderIn)
	if err != nil {
		return nil, err
	}
	roomStore.AddIndexer(store)
	svc := relations.New(relations.Config{Store: store, Events: roomStore, Ignored: ignoredUsers{ud},
		Now: s.Now, Log: s.Log, Updates: s.bgUpdates})
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	s.closeFns = append(s.closeFns, svc.Close)
	return svc, nil
}
