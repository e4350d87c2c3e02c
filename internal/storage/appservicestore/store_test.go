package appservicestore

import (
	"context"
	"errors"
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

// A transaction is stored with the positions it covers; it stays pending,
// with the same ID and body, until acknowledged; then the next one comes.
func TestQueue_PendingUntilAckedInOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if _, err := s.Pending(ctx, "irc"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("pending on an empty queue: %v", err)
		}
		id1, err := s.Queue(ctx, "irc", []byte(`{"events":[1]}`), 1, map[string]int64{"room": 10})
		if err != nil {
			t.Fatal(err)
		}
		id2, err := s.Queue(ctx, "irc", []byte(`{"events":[2]}`), 1, map[string]int64{"room": 20, "receipt": 3})
		if err != nil {
			t.Fatal(err)
		}
		if id1 != 1 || id2 != 2 {
			t.Fatalf("ids %d, %d", id1, id2)
		}
		for range 2 {
			p, err := s.Pending(ctx, "irc")
			if err != nil || p.ID != id1 || string(p.Body) != `{"events":[1]}` || p.Events != 1 {
				t.Fatalf("pending: %+v, %v", p, err)
			}
		}
		pos, err := s.Positions(ctx, "irc")
		if err != nil || pos["room"] != 20 || pos["receipt"] != 3 || pos[StreamTxn] != 2 {
			t.Fatalf("positions %v, %v", pos, err)
		}
		if err := s.Ack(ctx, "irc", id1); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Pending(ctx, "irc"); err != nil || p.ID != id2 {
			t.Fatalf("pending after ack: %+v, %v", p, err)
		}
		if n, err := s.PendingCount(ctx, "irc"); err != nil || n != 1 {
			t.Fatalf("pending count %d, %v", n, err)
		}
		if _, err := s.Pending(ctx, "slack"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another appservice's queue: %v", err)
		}
	})
}

// Appservices recognise retries by transaction ID, so an ID is never
// given twice, even once every transaction was acknowledged.
func TestQueue_TransactionIDsNeverRepeat(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		id, err := s.Queue(ctx, "irc", []byte(`{}`), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(ctx, "irc", id); err != nil {
			t.Fatal(err)
		}
		again, err := s.Queue(ctx, "irc", []byte(`{}`), 0, nil)
		if err != nil || again != id+1 {
			t.Fatalf("next id %d, %v; want %d", again, err, id+1)
		}
	})
}

// Positions only move forward, so a late writer never sends a stream
// back over what was queued.
func TestSetPositions_OnlyForward(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if err := s.SetPositions(ctx, "irc", map[string]int64{"room": 50}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPositions(ctx, "irc", map[string]int64{"room": 40, "to_device": 7}); err != nil {
			t.Fatal(err)
		}
		pos, err := s.Positions(ctx, "irc")
		if err != nil || pos["room"] != 50 || pos["to_device"] != 7 {
			t.Fatalf("positions %v, %v", pos, err)
		}
	})
}
