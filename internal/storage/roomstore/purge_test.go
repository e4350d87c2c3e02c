package roomstore

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func messageIn(t *testing.T, roomID string, depth int64) *event.Event {
	return buildEvent(t, &event.Builder{Type: event.TypeMessage, RoomID: roomID, Sender: "@a:hs1", Depth: depth,
		OriginServerTS: 1000 + depth, Content: []byte(`{"msgtype":"m.text","body":"hi"}`)})
}

// Purging a room removes it and its events, and nothing of another room;
// while its events wait for the federation sender it is refused, so that
// no event bound for other servers is lost.
func TestPurgeRoom_RemovesOneRoomOnceItsOutboxIsEmpty(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		gone, kept := messageIn(t, "!gone:hs1", 1), messageIn(t, "!kept:hs1", 1)
		if err := s.Write(ctx, func(w *Writer) error {
			for i, ev := range []*event.Event{gone, kept} {
				if err := w.CreateRoom(ev.RoomID(), "10", 1); err != nil {
					return err
				}
				if _, err := w.InsertEvent(NewEvent{Event: ev, StreamPos: int64(i + 1), Outbox: true}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAlias(ctx, "#gone:hs1", "!gone:hs1", "@a:hs1"); err != nil {
			t.Fatal(err)
		}
		if err := s.PurgeRoom(ctx, "!gone:hs1"); !errors.Is(err, ErrOutboxPending) {
			t.Fatalf("purge with events in the outbox: %v, want ErrOutboxPending", err)
		}
		if err := s.ClearOutbox(ctx, []int64{1, 2}); err != nil {
			t.Fatal(err)
		}
		if err := s.PurgeRoom(ctx, "!gone:hs1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Room(ctx, "!gone:hs1"); !errors.Is(err, merr.ErrNotFound) {
			t.Fatalf("the purged room: %v, want not found", err)
		}
		if _, err := s.Event(ctx, gone.EventID()); err == nil {
			t.Fatal("the purged room's event is still served")
		}
		if _, _, err := s.Alias(ctx, "#gone:hs1"); !errors.Is(err, merr.ErrNotFound) {
			t.Fatalf("the purged room's alias: %v", err)
		}
		if _, err := s.Room(ctx, "!kept:hs1"); err != nil {
			t.Fatalf("the other room: %v", err)
		}
		if _, err := s.Event(ctx, kept.EventID()); err != nil {
			t.Fatalf("the other room's event: %v", err)
		}
	})
}
