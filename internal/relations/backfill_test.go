package relations

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/relationstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const testRoom = "!r:hs1"

func message(t *testing.T, depth int64, content string) *event.Event {
	t.Helper()
	key, err := signing.NewSigningKey("k", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := (&event.Builder{Type: "m.room.message", RoomID: testRoom, Sender: "@a:hs1", Depth: depth,
		OriginServerTS: 1000 + depth, Content: []byte(content)}).Build(roomversion.MustGet("11"), "hs1", key)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// A database from before the relations index: its events are indexed in
// the background on the first start, over several batches, leaving out
// redacted events; events written afterwards are indexed by the writer.
func TestBackfill_IndexesEventsStoredBeforeTheIndex(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rs, err := roomstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		root := message(t, 1, `{"body":"root"}`)
		const replies = backfillBatch*2 + 10
		var redacted *event.Event
		if err := rs.Write(ctx, func(w *roomstore.Writer) error {
			if err := w.CreateRoom(testRoom, "11", 1); err != nil {
				return err
			}
			if _, err := w.InsertEvent(roomstore.NewEvent{Event: root, StreamPos: 1}); err != nil {
				return err
			}
			for i := int64(0); i < replies; i++ {
				ev := message(t, 2+i, fmt.Sprintf(`{"body":"r%d","m.relates_to":{"rel_type":"m.thread","event_id":%q}}`, i, root.EventID()))
				if _, err := w.InsertEvent(roomstore.NewEvent{Event: ev, StreamPos: 2 + i}); err != nil {
					return err
				}
				redacted = ev
			}
			return w.MarkRedacted(redacted.EventID(), "$redaction")
		}); err != nil {
			t.Fatal(err)
		}

		store, err := relationstore.New(ctx, db, rs.SenderIn)
		if err != nil {
			t.Fatal(err)
		}
		rs.AddIndexer(store)
		svc := New(Config{Store: store, Events: rs})
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		late := message(t, 5000, fmt.Sprintf(`{"body":"late","m.relates_to":{"rel_type":"m.thread","event_id":%q}}`, root.EventID()))
		if err := rs.Write(ctx, func(w *roomstore.Writer) error {
			_, err := w.InsertEvent(roomstore.NewEvent{Event: late, StreamPos: 5000})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			r, err := store.Backfill(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Done() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("backfill still at %+v", r)
			}
		}
		p := relationstore.Parent{RoomID: testRoom, EventID: root.EventID()}
		sums, err := store.ThreadSummaries(ctx, []relationstore.Parent{p}, "@a:hs1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := sums[p]; got == nil || got.Count != replies || got.LatestEventID != late.EventID() || !got.Participated {
			t.Fatalf("thread after backfill: %+v, want %d replies (one redacted, one late) ending with %s", got, replies, late.EventID())
		}
		ts, err := store.Threads(ctx, relationstore.ThreadsQuery{RoomID: testRoom, UpTo: noUpperBound, Limit: 5, Participant: "@a:hs1"})
		if err != nil || len(ts) != 1 {
			t.Fatalf("threads %+v, %v", ts, err)
		}
	})
}

// Threads indexed before summaries were kept (relations migration 3) are
// counted in the background on the next start, and their summaries are
// right before and after.
func TestBackfill_CountsThreadsIndexedBeforeSummaries(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rs, err := roomstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		store, err := relationstore.New(ctx, db, rs.SenderIn)
		if err != nil {
			t.Fatal(err)
		}
		rs.AddIndexer(store)
		const threads = summaryBatch + 5
		if err := rs.Write(ctx, func(w *roomstore.Writer) error {
			if err := w.CreateRoom(testRoom, "11", 1); err != nil {
				return err
			}
			for i := int64(0); i < threads; i++ {
				root := message(t, 2+2*i, fmt.Sprintf(`{"body":"root %d"}`, i))
				reply := message(t, 3+2*i, fmt.Sprintf(`{"body":"r","m.relates_to":{"rel_type":"m.thread","event_id":%q}}`, root.EventID()))
				for j, ev := range []*event.Event{root, reply} {
					if _, err := w.InsertEvent(roomstore.NewEvent{Event: ev, StreamPos: 2 + 2*i + int64(j)}); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// What migration 3 left of threads indexed before it.
		for _, q := range []string{`UPDATE threads SET summarized = FALSE, reply_count = 0`, `DELETE FROM thread_senders`} {
			if _, err := db.Write.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		svc := New(Config{Store: store, Events: rs})
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		deadline := time.Now().Add(time.Minute)
		for {
			todo, err := store.Unsummarized(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(todo) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("threads still to count: %v", todo)
			}
			time.Sleep(10 * time.Millisecond)
		}
		ts, err := store.Threads(ctx, relationstore.ThreadsQuery{RoomID: testRoom, UpTo: noUpperBound, Limit: threads + 1, Participant: "@a:hs1"})
		if err != nil || len(ts) != threads {
			t.Fatalf("%d threads (%v), want %d", len(ts), err, threads)
		}
		roots := make([]relationstore.Parent, len(ts))
		for i, th := range ts {
			roots[i] = relationstore.Parent{RoomID: testRoom, EventID: th.RootID}
		}
		sums, err := store.ThreadSummaries(ctx, roots, "@a:hs1", nil)
		if err != nil || len(sums) != threads {
			t.Fatalf("%d summaries (%v)", len(sums), err)
		}
		for _, th := range ts {
			if got := sums[relationstore.Parent{RoomID: testRoom, EventID: th.RootID}]; got.Count != 1 || got.LatestEventID != th.LatestEventID || !got.Participated {
				t.Errorf("thread %s: %+v", th.RootID, got)
			}
		}
	})
}
