package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// busyRoom creates a public room of alice's that bob has joined, and starts
// bob flooding it with messages until the test ends, so that requests queue
// up on the room's actor and are drained in batches.
func busyRoom(t *testing.T, e *Engine) string {
	t.Helper()
	ctx := context.Background()
	roomID := roomWithBob(t, e)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Send(ctx, roomID, msg("@bob:hs1", fmt.Sprintf("flood %d-%d", w, i)), nil); err != nil {
					t.Errorf("flooding sender: %v", err)
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	return roomID
}

// roomWithBob creates a public room of alice's that bob has joined.
func roomWithBob(t *testing.T, e *Engine) string {
	t.Helper()
	ctx := context.Background()
	roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Send(ctx, roomID, member("@bob:hs1", "@bob:hs1", "join"), nil); err != nil {
		t.Fatal(err)
	}
	return roomID
}

// sendConcurrently sends n copies of one request at once (each made by mk)
// and returns the event IDs the copies were answered with.
func sendConcurrently(t *testing.T, e *Engine, roomID string, n int, mk func() (*event.Builder, *Txn)) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, txn := mk()
			<-start
			ev, err := e.Send(context.Background(), roomID, b, txn)
			if err == nil {
				ids[i] = ev.EventID()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("copy %d of the request failed: %v", i, err)
		}
	}
	return ids
}

// roomEventsWhere lists the IDs of the room's timeline events that match.
func roomEventsWhere(t *testing.T, e *Engine, roomID string, match func(*event.Event) bool) []string {
	t.Helper()
	evs, err := e.Store().RoomEvents(context.Background(), roomID, 0, e.Stream().Current(), 1_000_000, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, se := range evs {
		if match(se.Event) {
			out = append(out, se.EventID())
		}
	}
	return out
}

func bodyOf(ev *event.Event) string {
	var c struct{ Body string }
	_ = json.Unmarshal(ev.Content(), &c)
	return c.Body
}

// A client that retries a send while the first copy is still queued (a
// busy room) must get one event: "The homeserver should identify a request
// as a retransmission if the transaction ID is the same as a previous
// request, and the path of the HTTP request is the same", and every copy
// gets "the same HTTP response code and content as the original request"
// (client-server-api, "Transaction identifiers").
func TestTxn_ConcurrentRetriesOfASendMakeOneEvent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		roomID := busyRoom(t, e)
		for round := range 8 {
			body := fmt.Sprintf("retried %d", round)
			txn := &Txn{UserID: "@alice:hs1", DeviceID: "PHONE", TxnID: fmt.Sprintf("t%d", round)}
			ids := sendConcurrently(t, e, roomID, 12, func() (*event.Builder, *Txn) {
				c := *txn
				return msg("@alice:hs1", body), &c
			})
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("round %d: copies of one transaction answered with different events: %v", round, ids)
				}
			}
			stored := roomEventsWhere(t, e, roomID, func(ev *event.Event) bool { return bodyOf(ev) == body })
			if len(stored) != 1 || stored[0] != ids[0] {
				t.Fatalf("round %d: the room holds %v for one transaction, want only %s", round, stored, ids[0])
			}
		}
	})
}

// The same holds for PUT /rooms/{roomId}/redact/{eventId}/{txnId}.
func TestTxn_ConcurrentRetriesOfARedactionMakeOneEvent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		roomID := busyRoom(t, e)
		ctx := context.Background()
		for round := range 8 {
			target, err := e.Send(ctx, roomID, msg("@alice:hs1", "to redact"), nil)
			if err != nil {
				t.Fatal(err)
			}
			txn := &Txn{UserID: "@alice:hs1", DeviceID: "PHONE", TxnID: fmt.Sprintf("r%d", round), Endpoint: TxnRedact}
			ids := sendConcurrently(t, e, roomID, 12, func() (*event.Builder, *Txn) {
				c := *txn
				return &event.Builder{Type: event.TypeRedaction, Sender: "@alice:hs1", Redacts: target.EventID(), Content: Content(map[string]any{})}, &c
			})
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("round %d: copies of one redaction answered with different events: %v", round, ids)
				}
			}
			stored := roomEventsWhere(t, e, roomID, func(ev *event.Event) bool {
				return ev.Type() == event.TypeRedaction && ev.Redacts() == target.EventID()
			})
			if len(stored) != 1 || stored[0] != ids[0] {
				t.Fatalf("round %d: the room holds redactions %v for one transaction, want only %s", round, stored, ids[0])
			}
		}
	})
}

// "The scope of a transaction ID is for a single device, and a single HTTP
// endpoint" (client-server-api, "Transaction identifiers"): the same ID
// from another device (a new login), to another room, for another event
// type or on the redact endpoint is a new request; from the same device to
// the same path it is a retransmission.
func TestTxn_ScopedToTheDeviceAndThePath(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		room1, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			t.Fatal(err)
		}
		room2, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			t.Fatal(err)
		}
		send := func(roomID string, b *event.Builder, txn Txn) string {
			t.Helper()
			ev, err := e.Send(ctx, roomID, b, &txn)
			if err != nil {
				t.Fatal(err)
			}
			return ev.EventID()
		}
		phone := Txn{UserID: "@alice:hs1", DeviceID: "PHONE", TxnID: "same"}
		first := send(room1, msg("@alice:hs1", "first"), phone)
		if again := send(room1, msg("@alice:hs1", "first"), phone); again != first {
			t.Errorf("a retransmission from the same device made %s, want the original %s", again, first)
		}
		laptop := phone
		laptop.DeviceID = "LAPTOP"
		if id := send(room1, msg("@alice:hs1", "from the new device"), laptop); id == first {
			t.Errorf("the same transaction ID from a new device returned the other device's event")
		}
		if id := send(room2, msg("@alice:hs1", "in another room"), phone); id == first {
			t.Errorf("the same transaction ID in another room returned the first room's event")
		}
		other := msg("@alice:hs1", "another type")
		other.Type = "m.custom"
		if id := send(room1, other, phone); id == first {
			t.Errorf("the same transaction ID for another event type returned the m.room.message event")
		}
		redact := phone
		redact.Endpoint = TxnRedact
		red := send(room1, &event.Builder{Type: event.TypeRedaction, Sender: "@alice:hs1", Redacts: first, Content: Content(map[string]any{})}, redact)
		if red == first {
			t.Errorf("the same transaction ID on the redact endpoint returned the sent event")
		}
		se, err := e.Store().Event(ctx, red)
		if err != nil {
			t.Fatal(err)
		}
		if se.TxnID != "same" || se.TxnDevice != "PHONE" {
			t.Errorf("the redaction records transaction %q of device %q, want the client's %q of PHONE", se.TxnID, se.TxnDevice, "same")
		}
	})
}

// The database has the last word on a transaction: a copy that reaches the
// room's actor after the original was committed, and that neither the
// check in Send nor the actor's memory caught (here: a restarted process
// whose memory is empty, reached without that check), is answered with the
// stored event, and no second event is made.
func TestTxn_StoredTransactionAnswersACopyTheActorForgot(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEngine(t, db)
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			t.Fatal(err)
		}
		txn := &Txn{UserID: "@alice:hs1", DeviceID: "PHONE", TxnID: "once"}
		orig, err := e.Send(ctx, roomID, msg("@alice:hs1", "once"), txn)
		if err != nil {
			t.Fatal(err)
		}

		restarted := newEngine(t, db)
		b := msg("@alice:hs1", "once")
		b.RoomID = roomID
		key := txn.key(roomID, b)
		// Another request shares the batch, and must be stored.
		_, held := holdActor(t, restarted, roomID)
		copyRes := queueRaw(restarted, roomID, &request{builders: []*event.Builder{b}, txn: &key})
		other := msg("@alice:hs1", "beside the copy")
		other.RoomID = roomID
		otherRes := queueRaw(restarted, roomID, &request{builders: []*event.Builder{other}})
		held()
		if res := <-copyRes; res.err != nil || len(res.events) != 1 || res.events[0].EventID() != orig.EventID() {
			t.Fatalf("the copy was answered with %v (err %v), want the stored event %s", res.events, res.err, orig.EventID())
		}
		if res := <-otherRes; res.err != nil {
			t.Fatalf("the request beside the copy failed: %v", res.err)
		}
		if got := roomEventsWhere(t, restarted, roomID, func(ev *event.Event) bool { return bodyOf(ev) == "once" }); len(got) != 1 {
			t.Fatalf("the room holds %v for one transaction, want only %s", got, orig.EventID())
		}
		if got := roomEventsWhere(t, restarted, roomID, func(ev *event.Event) bool { return bodyOf(ev) == "beside the copy" }); len(got) != 1 {
			t.Fatalf("the room holds %v for the request beside the copy, want one event", got)
		}
	})
}

// holdActor keeps the room's actor busy until release is called, so that
// requests queued meanwhile are drained as one batch.
func holdActor(t *testing.T, e *Engine, roomID string) (a *actor, release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	a = e.acquire(roomID)
	go func() {
		_, _ = a.submit(context.Background(), &request{template: func(*actor) error {
			close(started)
			<-done
			return nil
		}})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(done)
			e.release(a)
		})
	}
	t.Cleanup(release)
	return a, release
}

// queueRaw puts r on the room actor's queue as it is, skipping the checks
// of submit, and returns where its answer will come.
func queueRaw(e *Engine, roomID string, r *request) chan result {
	a := e.acquire(roomID)
	r.ctx = context.Background()
	r.reply = make(chan result, 1)
	a.reqs <- r
	out := make(chan result, 1)
	go func() {
		res := <-r.reply
		e.release(a)
		out <- res
	}()
	return out
}
