package roomstore

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// An event committed with Outbox set is listed in the outbox until
// cleared; one committed without is never listed; the outbox entry is part
// of the event's own transaction.
func TestOutboxRecordsEventsInTheirCommit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		build := func(body string, depth int64) *event.Event {
			return buildEvent(t, &event.Builder{Type: event.TypeMessage, RoomID: "!r:hs1", Sender: "@a:hs1", Depth: depth,
				OriginServerTS: 1000 + depth, Content: []byte(`{"msgtype":"m.text","body":"` + body + `"}`)})
		}
		bound, local := build("bound for hs2", 1), build("local only", 2)
		err := s.Write(ctx, func(w *Writer) error {
			if err := w.CreateRoom("!r:hs1", "10", 1); err != nil {
				return err
			}
			if _, err := w.InsertEvent(NewEvent{Event: bound, StreamPos: 7, Outbox: true}); err != nil {
				return err
			}
			_, err := w.InsertEvent(NewEvent{Event: local, StreamPos: 8})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Outbox(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != (OutboxEntry{StreamPos: 7, EventID: bound.EventID()}) {
			t.Fatalf("outbox = %+v, want only the event bound for another server", got)
		}
		if err := s.ClearOutbox(ctx, []int64{7, 8, 99}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Outbox(ctx, 10); len(got) != 0 {
			t.Errorf("outbox after clearing = %+v, want empty", got)
		}
	})
}
