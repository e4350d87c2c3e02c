package fedqueue_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t *testing.T, db *sqldb.DB) *fedqueue.Store {
	t.Helper()
	s, err := fedqueue.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pdu(room string, n int, dests ...string) fedqueue.NewPDU {
	id := fmt.Sprintf("$%s-%d", room, n)
	return fedqueue.NewPDU{EventID: id, RoomID: room, StreamPos: int64(n),
		JSON: []byte(`{"id":"` + id + `"}`), Destinations: dests}
}

func eventIDs(ps []fedqueue.QueuedPDU) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.EventID)
	}
	return out
}

func ids(ps []fedqueue.QueuedPDU) []int64 {
	var out []int64
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func count(t *testing.T, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Read.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrate_TwiceIsANoOp(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		newStore(t, db)
		newStore(t, db)
	})
}

func TestPDUs_QueuedPerDestinationInOrderAndStoredOnce(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		added, err := s.EnqueuePDUs(ctx, []fedqueue.NewPDU{
			pdu("!a", 1, "x.org", "y.org"),
			pdu("!b", 2, "y.org"),
			pdu("!a", 3, "x.org", "y.org", "x.org"), // duplicate destination ignored
			pdu("!a", 4),                            // no destinations: skipped
		}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if added != 5 {
			t.Errorf("added %d items, want 5", added)
		}
		x, _ := s.PeekPDUs(ctx, "x.org", 10)
		y, _ := s.PeekPDUs(ctx, "y.org", 10)
		if got, want := eventIDs(x), []string{"$!a-1", "$!a-3"}; !slices.Equal(got, want) {
			t.Errorf("x.org queue = %v, want %v", got, want)
		}
		if got, want := eventIDs(y), []string{"$!a-1", "$!b-2", "$!a-3"}; !slices.Equal(got, want) {
			t.Errorf("y.org queue = %v, want %v", got, want)
		}
		if y[0].RoomID != "!a" || y[0].StreamPos != 1 || string(y[0].JSON) != `{"id":"$!a-1"}` || y[0].QueuedTS != 1000 {
			t.Errorf("y.org first item = %+v", y[0])
		}
		if n := count(t, db, "fedqueue_pdus"); n != 3 {
			t.Errorf("%d PDU rows, want 3 (JSON stored once per PDU, not per destination)", n)
		}
		if lim, _ := s.PeekPDUs(ctx, "y.org", 2); len(lim) != 2 {
			t.Errorf("PeekPDUs limit 2 returned %d", len(lim))
		}
		if n, _ := s.CountPDUs(ctx, "y.org", 2); n != 2 {
			t.Errorf("CountPDUs(limit 2) = %d, want 2", n)
		}
		if n, _ := s.CountPDUs(ctx, "y.org", 100); n != 3 {
			t.Errorf("CountPDUs = %d, want 3", n)
		}
	})
}

func TestAcknowledge_RemovesOnlyThatDestinationsItemsAndRecordsProgress(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if _, err := s.EnqueuePDUs(ctx, []fedqueue.NewPDU{pdu("!a", 7, "x.org", "y.org"), pdu("!a", 9, "x.org")}, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.EnqueueEDU(ctx, "m.direct_to_device", []byte(`{"k":1}`), []string{"x.org", "y.org"}, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRetry(ctx, "x.org", fedqueue.Retry{IntervalMS: 4000, AtMS: 50, FailingSinceMS: 2}); err != nil {
			t.Fatal(err)
		}
		x, _ := s.PeekPDUs(ctx, "x.org", 10)
		xe, _ := s.PeekEDUs(ctx, "x.org", 10)
		if len(xe) != 1 || xe[0].Type != "m.direct_to_device" || string(xe[0].Content) != `{"k":1}` {
			t.Fatalf("x.org EDUs = %+v", xe)
		}
		n, err := s.Acknowledge(ctx, fedqueue.Delivery{Destination: "x.org", PDUIDs: ids(x), EDUIDs: []int64{xe[0].ID}, StreamPos: 9, NowMS: 77})
		if err != nil || n != 2 {
			t.Fatalf("Acknowledge = %d, %v; want 2 removed", n, err)
		}
		if rest, _ := s.PeekPDUs(ctx, "x.org", 10); len(rest) != 0 {
			t.Errorf("x.org still has %v", eventIDs(rest))
		}
		if rest, _ := s.PeekPDUs(ctx, "y.org", 10); len(rest) != 1 {
			t.Errorf("y.org lost its item: %v", eventIDs(rest))
		}
		if rest, _ := s.PeekEDUs(ctx, "y.org", 10); len(rest) != 1 {
			t.Errorf("y.org lost its EDU")
		}
		if n := count(t, db, "fedqueue_pdus"); n != 1 {
			t.Errorf("%d PDU rows after ack, want 1 (the one y.org still needs)", n)
		}
		d, err := s.Destination(ctx, "x.org")
		if err != nil {
			t.Fatal(err)
		}
		want := fedqueue.Destination{Name: "x.org", LastSentStreamPos: 9, LastSuccessMS: 77}
		if d != want {
			t.Errorf("x.org = %+v, want %+v (retry cleared)", d, want)
		}
		// The position never goes back.
		if _, err := s.Acknowledge(ctx, fedqueue.Delivery{Destination: "x.org", StreamPos: 3, NowMS: 78}); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.Destination(ctx, "x.org"); d.LastSentStreamPos != 9 {
			t.Errorf("last sent position went back to %d", d.LastSentStreamPos)
		}
	})
}

func TestDiscard_RemovesWithoutRecordingSuccess(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		s.EnqueuePDUs(ctx, []fedqueue.NewPDU{pdu("!a", 1, "x.org")}, 1)
		x, _ := s.PeekPDUs(ctx, "x.org", 10)
		if n, err := s.Discard(ctx, fedqueue.Delivery{Destination: "x.org", PDUIDs: ids(x)}); err != nil || n != 1 {
			t.Fatalf("Discard = %d, %v", n, err)
		}
		d, _ := s.Destination(ctx, "x.org")
		if d != (fedqueue.Destination{Name: "x.org"}) {
			t.Errorf("x.org = %+v, want zero state", d)
		}
		if n := count(t, db, "fedqueue_pdus"); n != 0 {
			t.Errorf("%d PDU rows left", n)
		}
	})
}

func TestCollapse_KeepsLatestPDUPerRoom(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var batch []fedqueue.NewPDU
		for i := 1; i <= 6; i++ {
			room := "!a"
			if i%2 == 0 {
				room = "!b"
			}
			batch = append(batch, pdu(room, i, "x.org", "y.org"))
		}
		batch = append(batch, pdu("!c", 7, "x.org"))
		if _, err := s.EnqueuePDUs(ctx, batch, 1); err != nil {
			t.Fatal(err)
		}
		dropped, err := s.CollapseToLatestPerRoom(ctx, "x.org")
		if err != nil || dropped != 4 {
			t.Fatalf("Collapse = %d, %v; want 4 dropped", dropped, err)
		}
		x, _ := s.PeekPDUs(ctx, "x.org", 10)
		if got, want := eventIDs(x), []string{"$!a-5", "$!b-6", "$!c-7"}; !slices.Equal(got, want) {
			t.Errorf("x.org after collapse = %v, want %v", got, want)
		}
		if y, _ := s.PeekPDUs(ctx, "y.org", 10); len(y) != 6 {
			t.Errorf("y.org has %d items after x.org's collapse, want 6", len(y))
		}
		// Collapse y.org too: PDU rows nobody needs are deleted.
		if _, err := s.CollapseToLatestPerRoom(ctx, "y.org"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "fedqueue_pdus"); n != 3 {
			t.Errorf("%d PDU rows, want 3", n)
		}
		if n, _ := s.SweepOrphans(ctx); n != 0 {
			t.Errorf("SweepOrphans found %d orphans; collapse should leave none", n)
		}
	})
}

func TestPending_ListsDestinationsWithQueuedItemsAndTheirState(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		s.EnqueuePDUs(ctx, []fedqueue.NewPDU{pdu("!a", 1, "x.org", "y.org"), pdu("!a", 2, "x.org")}, 1)
		s.EnqueueEDU(ctx, "m.direct_to_device", []byte(`{}`), []string{"z.org", "x.org"}, 1)
		s.SetRetry(ctx, "y.org", fedqueue.Retry{IntervalMS: 8000, AtMS: 9000, FailingSinceMS: 100})
		s.SetRetry(ctx, "idle.org", fedqueue.Retry{IntervalMS: 8000, AtMS: 9000})
		got, err := s.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []fedqueue.Destination{
			{Name: "x.org", QueuedPDUs: 2, QueuedEDUs: 1},
			{Name: "y.org", QueuedPDUs: 1, Retry: fedqueue.Retry{IntervalMS: 8000, AtMS: 9000, FailingSinceMS: 100}},
			{Name: "z.org", QueuedEDUs: 1},
		}
		if !slices.Equal(got, want) {
			t.Errorf("Pending =\n%+v\nwant\n%+v", got, want)
		}
		if d, _ := s.Destination(ctx, "x.org"); d != want[0] {
			t.Errorf("Destination(x.org) = %+v", d)
		}
	})
}

func TestNewEpoch_GrowsAcrossCalls(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		a, err1 := s.NewEpoch(ctx, 1)
		b, err2 := s.NewEpoch(ctx, 1)
		if err1 != nil || err2 != nil || b <= a {
			t.Errorf("epochs %d then %d (%v, %v); want strictly growing", a, b, err1, err2)
		}
	})
}

// Two destinations acknowledging or collapsing the same PDUs at once must
// not leave PDU rows that nobody needs (each would see the other's row).
func TestConcurrentRemoval_LeavesNoOrphans(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		dests := []string{"a.org", "b.org", "c.org", "d.org"}
		var batch []fedqueue.NewPDU
		for i := range 40 {
			batch = append(batch, pdu(fmt.Sprintf("!r%d", i%3), i, dests...))
		}
		if _, err := s.EnqueuePDUs(ctx, batch, 1); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, len(dests))
		for i, d := range dests {
			go func() {
				if i == 0 {
					_, err := s.CollapseToLatestPerRoom(ctx, d)
					errs <- err
					return
				}
				q, err := s.PeekPDUs(ctx, d, 100)
				if err == nil {
					_, err = s.Acknowledge(ctx, fedqueue.Delivery{Destination: d, PDUIDs: ids(q), NowMS: 2})
				}
				errs <- err
			}()
		}
		for range dests {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// a.org kept the latest PDU of each of the three rooms.
		if n := count(t, db, "fedqueue_pdus"); n != 3 {
			t.Errorf("%d PDU rows left, want 3", n)
		}
	})
}
