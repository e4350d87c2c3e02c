package syncapi

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/synctoken"
)

// noteStream is a minimal stream for these tests: numbered notes per room,
// shown in the room's ephemeral section.
type noteStream struct {
	mu    sync.Mutex
	notes []string // position i+1 holds notes[i], a room ID
	calls []StreamSync
}

func (n *noteStream) Key() string { return "n" }

func (n *noteStream) Current() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return int64(len(n.notes))
}

func (n *noteStream) add(roomID string) {
	n.mu.Lock()
	n.notes = append(n.notes, roomID)
	n.mu.Unlock()
}

func (n *noteStream) Sync(_ context.Context, sr *StreamSync) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, *sr)
	joined := map[string]bool{}
	for _, r := range sr.Joined {
		joined[r] = true
	}
	for pos := sr.From + 1; pos <= sr.To; pos++ {
		if room := n.notes[pos-1]; joined[room] {
			jr := sr.JoinedRoom(room)
			jr.Ephemeral.Events = append(jr.Ephemeral.Events, json.RawMessage(`{"type":"x.note","content":{}}`))
		}
	}
	return nil
}

func (n *noteStream) lastCall() StreamSync {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls[len(n.calls)-1]
}

// Sync tokens carry one position per stream; a stream's news alone makes an
// incremental sync answer, with the room's section added for it.
func TestSyncStreams_TokenCarriesEachStreamAndNewsWakes(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		notes := &noteStream{}
		w.s.AddStream(notes)
		const alice = "@alice:hs1"
		room := w.room(alice)
		notes.add(room)

		first := w.sync(alice, "")
		tok, err := synctoken.Parse(first.NextBatch, 0)
		if err != nil || tok.Pos("n") != 1 || tok.Room != w.e.Stream().Current() {
			t.Fatalf("next_batch %q: %+v, %v", first.NextBatch, tok, err)
		}
		if c := notes.lastCall(); c.From != 0 || !c.Initial || len(c.Joined) != 1 || c.Joined[0] != room {
			t.Fatalf("initial sync asked the stream for %+v", c)
		}
		if got := len(first.Rooms.Join[room].Ephemeral.Events); got != 1 {
			t.Fatalf("initial sync: %d notes, want 1", got)
		}

		done := make(chan *Response, 1)
		go func() {
			resp, err := w.s.Sync(w.ctx, Request{UserID: alice, DeviceID: "D", Since: first.NextBatch, Timeout: time.Minute})
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		time.Sleep(50 * time.Millisecond) // let it start waiting; correctness does not depend on it
		notes.add(room)
		w.e.Notifier().Wake(alice)
		resp := <-done
		jr := resp.Rooms.Join[room]
		if jr == nil || len(jr.Ephemeral.Events) != 1 || len(jr.Timeline.Events) != 0 {
			t.Fatalf("incremental sync: %+v", jr)
		}
		if c := notes.lastCall(); c.From != 1 || c.To != 2 || c.Initial {
			t.Fatalf("incremental sync asked the stream for (%d, %d] initial=%v", c.From, c.To, c.Initial)
		}
	})
}

// A token from before the stream existed reads as position 0 in it: the
// stream sends everything it has, so nothing is missed.
func TestSyncStreams_LegacyTokenStartsStreamFromZero(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice = "@alice:hs1"
		room := w.room(alice)
		legacy := w.sync(alice, "").NextBatch
		if strings.Contains(legacy, "_") {
			t.Fatalf("without streams the token is the room position alone, got %q", legacy)
		}
		notes := &noteStream{}
		w.s.AddStream(notes)
		notes.add(room)
		resp := w.sync(alice, legacy)
		if c := notes.lastCall(); c.From != 0 || c.To != 1 || c.Initial {
			t.Fatalf("legacy token asked the stream for (%d, %d] initial=%v", c.From, c.To, c.Initial)
		}
		if jr := resp.Rooms.Join[room]; jr == nil || len(jr.Ephemeral.Events) != 1 {
			t.Fatalf("legacy token: %+v", jr)
		}
	})
}

// Positions from the future (a token issued before a restore) are read as
// now, in every stream.
func TestSyncStreams_FutureTokenAnswersFromNow(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		notes := &noteStream{}
		w.s.AddStream(notes)
		const alice = "@alice:hs1"
		w.room(alice)
		resp := w.sync(alice, "s999999_n77")
		tok, _ := synctoken.Parse(resp.NextBatch, 0)
		if tok.Pos("n") != 0 || tok.Room != w.e.Stream().Current() {
			t.Fatalf("next_batch %q", resp.NextBatch)
		}
	})
}

func TestSyncStreams_MalformedSinceRefused(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		for _, bad := range []string{"s1_", "s-1", "x", "s1_N3"} {
			if _, err := w.s.Sync(w.ctx, Request{UserID: "@alice:hs1", Since: bad}); err == nil {
				t.Errorf("since %q accepted", bad)
			}
		}
	})
}

// A token at room position 0 is still a token: the sync is incremental in
// every stream, so a stream's news is not sent again and a long-poll with
// nothing new waits (found with a token issued before any room event).
func TestSyncStreams_TokenAtRoomPositionZeroIsIncremental(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		notes := &noteStream{}
		w.s.AddStream(notes)
		notes.add("!nowhere:hs1")
		const alice = "@alice:hs1"
		first := w.sync(alice, "")
		if tok, _ := synctoken.Parse(first.NextBatch, 0); tok.Room != 0 || tok.Pos("n") != 1 {
			t.Fatalf("next_batch %q, want room position 0 and note 1", first.NextBatch)
		}
		resp := w.sync(alice, first.NextBatch)
		notes.mu.Lock()
		calls := len(notes.calls)
		notes.mu.Unlock()
		if calls != 1 || !resp.empty() {
			t.Fatalf("a token at room position 0 was synced as initial: %d stream calls, last %+v", calls, notes.lastCall())
		}
	})
}
