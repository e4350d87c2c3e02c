package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

const ourName = "our.example"

// guard bounds every wait on the code under test, so that a bug fails the
// test instead of hanging it. It is never what a test measures.
const guard = 30 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// fakeTransport hands every SendTransaction to the test as a call, and
// blocks until the test answers it.
type fakeTransport struct {
	calls chan *call

	mu       sync.Mutex
	inflight map[string]int
	overlaps []string // destinations that had two transactions in flight
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{calls: make(chan *call), inflight: map[string]int{}}
}

type reply struct {
	resp *sender.TransactionResponse
	err  error
}

type call struct {
	dest  string
	txnID string
	body  []byte
	txn   txnBody
	reply chan reply
}

type txnBody struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []struct {
		Type    string          `json:"edu_type"`
		Content json.RawMessage `json:"content"`
	} `json:"edus"`
}

func (f *fakeTransport) SendTransaction(ctx context.Context, dest, txnID string, body []byte) (*sender.TransactionResponse, error) {
	f.mu.Lock()
	f.inflight[dest]++
	if f.inflight[dest] > 1 {
		f.overlaps = append(f.overlaps, dest)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight[dest]--
		f.mu.Unlock()
	}()
	c := &call{dest: dest, txnID: txnID, body: slices.Clone(body), reply: make(chan reply, 1)}
	if err := json.Unmarshal(body, &c.txn); err != nil {
		c.txn.Origin = "UNPARSABLE: " + err.Error()
	}
	select {
	case f.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-c.reply:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeTransport) overlapped() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.overlaps)
}

// eventIDs returns the IDs of the call's PDUs, parsing each as a v10 PDU,
// which also checks that the body carries well-formed PDUs.
func (c *call) eventIDs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, raw := range c.txn.PDUs {
		ev, err := event.Parse(raw, roomversion.MustGet("10"))
		if err != nil {
			t.Fatalf("txn %s carries a bad PDU: %v", c.txnID, err)
		}
		out = append(out, ev.EventID())
	}
	return out
}

// ok answers 200 with an empty result for every PDU.
func (c *call) ok(t *testing.T) {
	t.Helper()
	resp := &sender.TransactionResponse{PDUs: map[string]sender.PDUResult{}}
	for _, id := range c.eventIDs(t) {
		resp.PDUs[id] = sender.PDUResult{}
	}
	c.reply <- reply{resp: resp}
}

func (c *call) fail(err error) { c.reply <- reply{err: err} }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// timer is one backoff wait the sender asked for; the test fires it.
type timer struct {
	d time.Duration
	c chan time.Time
}

func (tm timer) fire() { tm.c <- time.Time{} }

type fakeRooms map[string][]string

func (r fakeRooms) ServersInRoom(_ context.Context, roomID string) ([]string, error) {
	return r[roomID], nil
}

// rig is a sender on a real database with a fake network, clock and timers.
type rig struct {
	t      *testing.T
	db     *sqldb.DB
	store  *fedqueue.Store
	tr     *fakeTransport
	clock  *fakeClock
	timers chan timer
	s      *sender.Sender
}

func newRig(t *testing.T, db *sqldb.DB, configure ...func(*sender.Config)) *rig {
	t.Helper()
	store, err := fedqueue.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, store: store, tr: newFakeTransport(),
		clock:  &fakeClock{now: time.UnixMilli(1_700_000_000_000)},
		timers: make(chan timer, 100)}
	cfg := sender.Config{
		ServerName: ourName,
		Store:      store,
		Transport:  r.tr,
		Now:        r.clock.Now,
		After: func(d time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			r.timers <- timer{d: d, c: c}
			return c
		},
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Rand:        func() float64 { return 0.5 }, // no jitter
		StopTimeout: 50 * time.Millisecond,         // how long a test's unanswered call holds up cleanup
	}
	for _, f := range configure {
		f(&cfg)
	}
	r.s = sender.New(cfg)
	t.Cleanup(r.s.Stop)
	return r
}

func (r *rig) start() {
	r.t.Helper()
	if err := r.s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) next() *call {
	r.t.Helper()
	return recv(r.t, r.tr.calls, "a transaction")
}

func (r *rig) timer() timer {
	r.t.Helper()
	return recv(r.t, r.timers, "a backoff timer")
}

// send queues ev for explicit destinations.
func (r *rig) send(ev *event.Event, dests ...string) {
	r.t.Helper()
	if err := r.s.SendPDU(context.Background(), ev, dests); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) queued(dest string) []string {
	r.t.Helper()
	ps, err := r.store.PeekPDUs(context.Background(), dest, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.EventID)
	}
	return out
}

var testKey = func() signing.SigningKey {
	k, err := signing.NewSigningKey("t1", make([]byte, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

// events builds n distinct v10 messages in room, named by their body.
func events(t testing.TB, room string, n int) []*event.Event {
	t.Helper()
	v := roomversion.MustGet("10")
	out := make([]*event.Event, n)
	prev := "$create:" + ourName
	for i := range out {
		b := event.Builder{Type: event.TypeMessage, Sender: "@alice:" + ourName, RoomID: room,
			Content:    json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"%s %d"}`, room, i)),
			PrevEvents: []string{prev}, AuthEvents: []string{"$create:" + ourName},
			Depth: int64(i + 2), OriginServerTS: 1_700_000_000_000 + int64(i), Origin: ourName}
		ev, err := b.Build(v, ourName, testKey)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
		prev = ev.EventID()
	}
	return out
}

func ids(evs ...*event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID())
	}
	return out
}
