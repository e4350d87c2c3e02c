package sender_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/prometheus/client_golang/prometheus"
)

// Transactions carry at most 50 PDUs (server-server-api "Transactions"),
// in the order they were queued, from this server's name.
func TestPDUs_BatchedUpTo50PerTransactionInOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		evs := events(t, "!a:"+ourName, 120)
		for _, ev := range evs {
			r.send(ev, "remote.example")
		}
		r.start()
		txnIDs := map[string]bool{}
		for _, want := range [][]string{ids(evs[:50]...), ids(evs[50:100]...), ids(evs[100:]...)} {
			c := r.next()
			if c.dest != "remote.example" || c.txn.Origin != ourName || c.txn.OriginServerTS != r.clock.Now().UnixMilli() {
				t.Errorf("txn to %s from %q at %d", c.dest, c.txn.Origin, c.txn.OriginServerTS)
			}
			if got := c.eventIDs(t); !slices.Equal(got, want) {
				t.Fatalf("txn %s carries %d PDUs %v..., want %d starting %v", c.txnID, len(got), got[:1], len(want), want[0])
			}
			if len(c.txn.EDUs) != 0 || bytes.Contains(c.body, []byte(`"edus"`)) {
				t.Errorf("txn without EDUs should omit edus: %s", c.body[:80])
			}
			if txnIDs[c.txnID] {
				t.Errorf("txn ID %s reused for a new transaction", c.txnID)
			}
			txnIDs[c.txnID] = true
			c.ok(t)
		}
		// A barrier: the worker acknowledged the last transaction before
		// it picks up this one.
		more := events(t, "!b:"+ourName, 1)
		r.send(more[0], "remote.example")
		r.next().ok(t)
		if q := r.queued("remote.example"); len(q) > 1 {
			t.Errorf("%d PDUs still queued after acknowledgement", len(q))
		}
		if st := r.s.Stats(); st.TransactionsSent < 3 || st.PDUsSent < 120 {
			t.Errorf("stats %+v", st)
		}
	})
}

// Destinations: the room's servers plus explicit ones, deduplicated,
// never our own server, never an invalid name.
func TestSendPDU_DestinationsMergedDeduplicatedAndNotOurs(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		room := "!a:" + ourName
		r := newRig(t, db, func(c *sender.Config) {
			c.Rooms = fakeRooms{room: {ourName, "a.example", "b.example", "a.example"}}
		})
		ev := events(t, room, 1)[0]
		r.send(ev, "c.example", "b.example", ourName, "not a server name!")
		pending, err := r.store.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range pending {
			got = append(got, d.Name)
			if d.QueuedPDUs != 1 {
				t.Errorf("%s has %d PDUs queued, want 1", d.Name, d.QueuedPDUs)
			}
		}
		if want := []string{"a.example", "b.example", "c.example"}; !slices.Equal(got, want) {
			t.Errorf("queued for %v, want %v", got, want)
		}
		// Only our own server in the room: nothing to store.
		r2 := newRig(t, db, func(c *sender.Config) { c.Rooms = fakeRooms{room: {ourName}} })
		before, _ := r.store.Pending(context.Background())
		r2.send(events(t, room, 2)[1])
		after, _ := r.store.Pending(context.Background())
		if !slices.Equal(before, after) {
			t.Errorf("a PDU for no one changed the queue: %v -> %v", before, after)
		}
	})
}

// "The sending server must wait and retry for a 200 OK response before
// sending a transaction with a different txnId" (transactions.yaml): one
// transaction in flight per destination, and a slow one holds up no other.
func TestOneTransactionInFlightPerDestination(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		evs := events(t, "!a:"+ourName, 3)
		r.send(evs[0], "slow.example", "fast.example")
		r.start()
		calls := map[string]*call{}
		for range 2 {
			c := r.next()
			calls[c.dest] = c
		}
		slow, fast := calls["slow.example"], calls["fast.example"]
		if slow == nil || fast == nil {
			t.Fatalf("first transactions went to %v", calls)
		}
		fast.ok(t)
		// While slow's transaction hangs, fast gets two more.
		for _, ev := range evs[1:] {
			r.send(ev, "slow.example", "fast.example")
			c := r.next()
			if c.dest != "fast.example" {
				t.Fatalf("a second transaction went to %s while its first was in flight", c.dest)
			}
			c.ok(t)
		}
		slow.ok(t)
		c := r.next()
		if c.dest != "slow.example" || !slices.Equal(c.eventIDs(t), ids(evs[1:]...)) {
			t.Errorf("after its first answer, slow got %s %v; want the two queued meanwhile", c.dest, c.eventIDs(t))
		}
		c.ok(t)
		if o := r.tr.overlapped(); len(o) != 0 {
			t.Errorf("two transactions in flight at once for %v", o)
		}
	})
}

// A failed transaction is retried with the same ID and the same body, so
// the receiver can deduplicate it; new PDUs wait for the next one.
func TestFailedTransaction_RetriedWithSameIDAndBody(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		evs := events(t, "!a:"+ourName, 2)
		r.send(evs[0], "r.example")
		r.start()
		first := r.next()
		first.fail(errors.New("connection refused"))
		tm := r.timer()
		r.send(evs[1], "r.example")
		r.clock.Advance(time.Minute) // the retry must not restamp the body
		tm.fire()
		retry := r.next()
		if retry.txnID != first.txnID || !bytes.Equal(retry.body, first.body) {
			t.Fatalf("retry is %s %s; want %s %s", retry.txnID, retry.body, first.txnID, first.body)
		}
		retry.ok(t)
		next := r.next()
		if next.txnID == first.txnID || !slices.Equal(next.eventIDs(t), ids(evs[1])) {
			t.Errorf("next transaction %s carries %v; want a new ID with the PDU queued meanwhile", next.txnID, next.eventIDs(t))
		}
		next.ok(t)
		if st := r.s.Stats(); st.TransactionFailures != 1 {
			t.Errorf("TransactionFailures = %d, want 1", st.TransactionFailures)
		}
	})
}

// Backoff doubles from MinBackoff to MaxBackoff; MarkAlive cuts a backoff
// short and starts the next one from the minimum again.
func TestBackoff_GrowsCapsAndMarkAliveResets(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, func(c *sender.Config) {
			c.MinBackoff, c.MaxBackoff = 2*time.Second, 16*time.Second
		})
		evs := events(t, "!a:"+ourName, 2)
		r.send(evs[0], "down.example")
		r.start()
		var waits []time.Duration
		for range 6 {
			r.next().fail(errors.New("503"))
			tm := r.timer()
			waits = append(waits, tm.d)
			if len(waits) < 6 {
				tm.fire()
			}
		}
		want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second, 16 * time.Second}
		if !slices.Equal(waits, want) {
			t.Errorf("backoffs %v, want %v", waits, want)
		}
		d, _ := r.store.Destination(context.Background(), "down.example")
		if d.Retry.IntervalMS != 16000 || d.Retry.FailingSinceMS == 0 {
			t.Errorf("persisted retry %+v, want the 16 s interval and a failing-since time", d.Retry)
		}
		if st := r.s.Stats(); st.DestinationsBackingOff != 1 {
			t.Errorf("DestinationsBackingOff = %d, want 1", st.DestinationsBackingOff)
		}
		// The last timer is never fired: the destination calls us instead.
		r.s.MarkAlive("down.example")
		r.next().fail(errors.New("503 again"))
		if tm := r.timer(); tm.d != 2*time.Second {
			t.Errorf("backoff after MarkAlive = %v, want it reset to 2s", tm.d)
		}
		r.s.MarkAlive("down.example")
		r.next().ok(t)
		r.send(evs[1], "down.example") // barrier: the success is recorded
		r.next().ok(t)
		d, _ = r.store.Destination(context.Background(), "down.example")
		if d.Retry != (fedqueue.Retry{}) || d.LastSuccessMS == 0 {
			t.Errorf("after success: %+v, want retry cleared and a success time", d)
		}
		if st := r.s.Stats(); st.DestinationsBackingOff != 0 {
			t.Errorf("DestinationsBackingOff = %d, want 0", st.DestinationsBackingOff)
		}
		r.s.MarkAlive("never-heard-of.example") // harmless
	})
}

// Restart: a new sender on the same database sends what was not
// acknowledged, and nothing that was.
func TestRestart_ResendsOnlyUnacknowledged(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		evs := events(t, "!a:"+ourName, 5)
		r1 := newRig(t, db)
		for _, ev := range evs[:3] {
			r1.send(ev, "r.example")
		}
		r1.start()
		acked := r1.next()
		r1.send(evs[3], "r.example")
		r1.send(evs[4], "r.example")
		acked.ok(t)
		lost := r1.next() // in flight when the process stops; never answered
		if !slices.Equal(lost.eventIDs(t), ids(evs[3:]...)) {
			t.Fatalf("second transaction carries %v", lost.eventIDs(t))
		}
		r1.s.Stop()

		r2 := newRig(t, db)
		r2.start()
		c := r2.next()
		if !slices.Equal(c.eventIDs(t), ids(evs[3:]...)) {
			t.Errorf("after restart sent %v, want only the unacknowledged %v", c.eventIDs(t), ids(evs[3:]...))
		}
		if c.txnID == acked.txnID || c.txnID == lost.txnID {
			t.Errorf("txn ID %s reused across a restart; the receiver would take it for a duplicate", c.txnID)
		}
		c.ok(t)
		barrier := events(t, "!b:"+ourName, 1)[0]
		r2.send(barrier, "r.example")
		r2.next().ok(t) // by now the previous transaction is acknowledged
		if q := r2.queued("r.example"); len(q) > 0 && !slices.Equal(q, ids(barrier)) {
			t.Errorf("still queued after acknowledgement: %v", q)
		}
	})
}

// Stop lets a transaction in flight finish and records its success; what
// is queued after Stop stays stored for the next start.
func TestStop_FinishesInFlightTransaction(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, func(c *sender.Config) { c.StopTimeout = guard })
		evs := events(t, "!a:"+ourName, 2)
		r.send(evs[0], "r.example")
		r.start()
		c := r.next()
		stopped := make(chan struct{})
		go func() { r.s.Stop(); close(stopped) }()
		c.ok(t)
		recv(t, stopped, "Stop to return")
		d, _ := r.store.Destination(context.Background(), "r.example")
		if d.QueuedPDUs != 0 || d.LastSuccessMS == 0 {
			t.Errorf("after Stop: %+v; want the in-flight transaction acknowledged", d)
		}
		r.send(evs[1], "r.example")
		if got := r.queued("r.example"); !slices.Equal(got, ids(evs[1])) {
			t.Errorf("queued after Stop: %v, want the PDU sent after Stop", got)
		}
	})
}

// Catch-up: after a long outage only the latest PDU per room is sent; the
// remote fetches the rest with /get_missing_events.
func TestCatchUp_AfterLongOutageSendsLatestPerRoom(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*sender.Config)
		outage    time.Duration
	}{
		{"backlog longer than the bound", func(c *sender.Config) { c.CatchUpBacklog, c.CatchUpAge = 5, -1 }, time.Minute},
		{"oldest PDU older than the bound", func(c *sender.Config) { c.CatchUpBacklog, c.CatchUpAge = -1, 10*time.Minute }, 11 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
				r := newRig(t, db, tt.configure)
				a := events(t, "!a:"+ourName, 6)
				b := events(t, "!b:"+ourName, 3)
				r.send(a[0], "down.example")
				r.start()
				first := r.next()
				first.fail(errors.New("timeout"))
				tm := r.timer()
				for _, ev := range append(a[1:], b...) {
					r.send(ev, "down.example")
				}
				r.clock.Advance(tt.outage)
				tm.fire()
				r.next().fail(errors.New("timeout")) // now the outage is long enough
				r.timer().fire()
				retry := r.next()
				if retry.txnID != first.txnID {
					t.Errorf("catch-up changed the transaction in flight")
				}
				retry.ok(t)
				c := r.next()
				if got, want := c.eventIDs(t), ids(a[5], b[2]); !slices.Equal(got, want) {
					t.Errorf("after the outage sent %v, want the latest per room %v", got, want)
				}
				c.ok(t)
				if st := r.s.Stats(); st.CatchUps != 1 || st.PDUsDropped != 7 {
					t.Errorf("CatchUps %d, PDUsDropped %d; want 1, 7", st.CatchUps, st.PDUsDropped)
				}
			})
		})
	}
}

// A per-PDU error in a 200 response means the PDU was received and refused:
// it is not sent again (transactions.yaml, "PDU Processing Results").
func TestPDUError_DoesNotCauseResend(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		evs := events(t, "!a:"+ourName, 3)
		r.send(evs[0], "r.example")
		r.send(evs[1], "r.example")
		r.start()
		c := r.next()
		c.reply <- reply{resp: &sender.TransactionResponse{PDUs: map[string]sender.PDUResult{
			evs[0].EventID(): {Error: "You are not allowed to send a message to this room."},
			evs[1].EventID(): {},
		}}}
		r.send(evs[2], "r.example")
		if got := r.next().eventIDs(t); !slices.Equal(got, ids(evs[2])) {
			t.Errorf("next transaction carries %v, want only the new PDU", got)
		}
		if st := r.s.Stats(); st.PDUErrors != 1 {
			t.Errorf("PDUErrors = %d, want 1", st.PDUErrors)
		}
	})
}

// A transaction the destination refuses for good is dropped, not retried.
func TestRejectedTransaction_IsDroppedNotRetried(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		evs := events(t, "!a:"+ourName, 2)
		r.send(evs[0], "r.example")
		r.start()
		first := r.next()
		first.fail(fmt.Errorf("400 M_NOT_JSON: %w", sender.ErrRejected))
		r.send(evs[1], "r.example")
		c := r.next()
		if c.txnID == first.txnID || !slices.Equal(c.eventIDs(t), ids(evs[1])) {
			t.Errorf("after a rejection sent %s %v; want a new transaction with only the new PDU", c.txnID, c.eventIDs(t))
		}
		c.ok(t)
		if st := r.s.Stats(); st.TransactionsRejected != 1 {
			t.Errorf("TransactionsRejected = %d", st.TransactionsRejected)
		}
	})
}

func TestStart_Twice(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t))
	r.start()
	if err := r.s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
}

func TestMetrics_RegisteredWithPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	newRig(t, storagetest.NewSQLite(t), func(c *sender.Config) { c.Registerer = reg })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"myelin_federation_sender_transactions_sent_total", "myelin_federation_sender_pdus_queued",
		"myelin_federation_sender_destinations_backing_off"} {
		if !names[n] {
			t.Errorf("metric %s not registered; have %v", n, names)
		}
	}
}

// The retry schedule survives a restart: a destination that was down is
// not hammered by every start, and its backoff keeps growing.
func TestRestart_KeepsRetrySchedule(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ev := events(t, "!a:"+ourName, 1)[0]
		r1 := newRig(t, db)
		r1.send(ev, "down.example")
		r1.start()
		r1.next().fail(errors.New("connection refused"))
		if tm := r1.timer(); tm.d != 2*time.Second {
			t.Fatalf("first backoff %v", tm.d)
		}
		r1.s.Stop()

		r2 := newRig(t, db) // same clock reading as r1's failure
		r2.start()
		if tm := r2.timer(); tm.d != 2*time.Second {
			t.Errorf("after restart waits %v, want the 2s left of the backoff", tm.d)
		} else {
			tm.fire()
		}
		r2.next().fail(errors.New("connection refused"))
		if tm := r2.timer(); tm.d != 4*time.Second {
			t.Errorf("next backoff %v, want 4s (continuing the persisted interval)", tm.d)
		}
		r2.s.MarkAlive("down.example")
		r2.next().ok(t)
	})
}
