package receiptstore

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t *testing.T, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// client-server-api "Receipts": one event per user, type and thread; a
// receipt only moves forward.
func TestReceipts_OnlyMoveForwardPerThread(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, ctx := newStore(t, db), context.Background()
		put := func(thread, eventID string, eventPos, streamPos int64) bool {
			t.Helper()
			ok, err := s.Put(ctx, Receipt{RoomID: "!r", Type: "m.read", UserID: "@a:hs", ThreadID: thread,
				EventID: eventID, EventPos: eventPos, TS: 1, StreamPos: streamPos})
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !put("", "$5", 5, 1) {
			t.Fatal("first receipt not written")
		}
		if put("", "$3", 3, 2) {
			t.Error("a receipt moved backwards")
		}
		if put("", "$5", 5, 3) {
			t.Error("the same receipt again counts as a change")
		}
		if !put("main", "$3", 3, 4) {
			t.Error("a threaded receipt is held back by the unthreaded one")
		}
		if !put("", "$9", 9, 5) {
			t.Error("a receipt did not move forward")
		}
		r, err := s.Get(ctx, "!r", "m.read", "@a:hs", "")
		if err != nil || r == nil || r.EventID != "$9" || r.StreamPos != 5 {
			t.Fatalf("stored %+v, %v", r, err)
		}
		if max, _ := s.MaxStreamPos(ctx); max != 5 {
			t.Errorf("MaxStreamPos %d, want 5", max)
		}
		changed, more, err := s.Changed(ctx, 3, 5, 10)
		if err != nil || more || len(changed) != 2 || changed[0].StreamPos != 4 || changed[1].StreamPos != 5 {
			t.Errorf("Changed(3, 5] = %+v, %v, %v", changed, more, err)
		}
		if changed, more, _ := s.Changed(ctx, 0, 5, 1); len(changed) != 1 || !more {
			t.Errorf("Changed with limit 1: %d, more=%v", len(changed), more)
		}
		in, err := s.InRooms(ctx, []string{"!r", "!other"}, 0, 5)
		if err != nil || len(in) != 2 {
			t.Errorf("InRooms: %+v, %v", in, err)
		}
		if in, _ := s.InRooms(ctx, []string{"!other"}, 0, 5); len(in) != 0 {
			t.Errorf("InRooms of another room: %+v", in)
		}
	})
}
