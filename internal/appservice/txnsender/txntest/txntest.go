// Package txntest is an application service on loopback for tests: it
// checks the hs_token, records the transactions it accepts (a retry of an
// accepted transaction ID is acknowledged and not recorded again, as the
// spec's "AS ACK lost" asks of appservices), fails the test when a
// transaction ID comes again with another body, and can be down (500) or
// not yet listening (connections refused).
package txntest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// DefaultHSToken is the hs_token an Appservice expects unless told.
const DefaultHSToken = "hs-token-secret"

// Received is one transaction an appservice accepted.
type Received struct {
	TxnID  string `json:"-"`
	Events []struct {
		EventID string          `json:"event_id"`
		Type    string          `json:"type"`
		RoomID  string          `json:"room_id"`
		Sender  string          `json:"sender"`
		Content json.RawMessage `json:"content"`
	} `json:"events"`
	Ephemeral []struct {
		Type    string          `json:"type"`
		RoomID  string          `json:"room_id"`
		Sender  string          `json:"sender"`
		Content json.RawMessage `json:"content"`
	} `json:"ephemeral"`
	MSC2409Ephemeral []json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
	ToDevice         []struct {
		Type       string          `json:"type"`
		Sender     string          `json:"sender"`
		Content    json.RawMessage `json:"content"`
		ToUserID   string          `json:"to_user_id"`
		ToDeviceID string          `json:"to_device_id"`
	} `json:"de.sorunome.msc2409.to_device"`
	OTKCounts    map[string]map[string]map[string]int `json:"org.matrix.msc3202.device_one_time_keys_count"`
	FallbackKeys map[string]map[string][]string       `json:"org.matrix.msc3202.device_unused_fallback_key_types"`
	DeviceLists  *struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	} `json:"org.matrix.msc3202.device_lists"`
	Raw []byte `json:"-"`
}

// Appservice is an application service on loopback that records the
// transactions it accepts. While down it answers 500; a listener not yet
// started refuses connections.
type Appservice struct {
	t    testing.TB
	ln   net.Listener
	addr string
	srv  *http.Server

	// HSToken is the token the homeserver must present.
	HSToken string

	mu       sync.Mutex
	down     bool
	attempts map[string]int
	bodies   map[string][]byte
	accepted []Received
	got      chan Received
}

func New(t testing.TB) *Appservice {
	a := Unstarted(t)
	a.Start(t)
	return a
}

// Unstarted reserves an address where connections are refused
// until Start.
func Unstarted(t testing.TB) *Appservice {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return &Appservice{t: t, addr: addr, attempts: map[string]int{}, bodies: map[string][]byte{},
		got: make(chan Received, 100000), HSToken: DefaultHSToken}
}

func (a *Appservice) Start(t testing.TB) {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve)}
	go func() { _ = a.srv.Serve(ln) }()
	t.Cleanup(func() { _ = a.srv.Close() })
}

// Attempts is how many requests each transaction ID took.
func (a *Appservice) Attempts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.attempts))
	for id, n := range a.attempts {
		out[id] = n
	}
	return out
}

// AttemptsSeen is how many requests reached the appservice.
func (a *Appservice) AttemptsSeen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.attempts {
		n += c
	}
	return n
}

// Eventually polls cond until it holds (or fails the test after a long
// while); it asserts no timing, only that the state is reached.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *Appservice) URL() string { return "http://" + a.addr }

func (a *Appservice) serve(w http.ResponseWriter, r *http.Request) {
	const prefix = "/_matrix/app/v1/transactions/"
	raw, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPut || len(r.URL.Path) <= len(prefix) || r.URL.Path[:len(prefix)] != prefix ||
		r.Header.Get("Authorization") != "Bearer "+a.HSToken {
		http.Error(w, `{"errcode":"M_FORBIDDEN"}`, http.StatusForbidden)
		return
	}
	id := r.URL.Path[len(prefix):]
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[id]++
	if prev, ok := a.bodies[id]; ok && !bytes.Equal(prev, raw) {
		a.t.Errorf("transaction %s sent again with another body:\n%s\n%s", id, prev, raw)
	}
	a.bodies[id] = raw
	if a.down {
		http.Error(w, `{"errcode":"M_UNKNOWN"}`, http.StatusInternalServerError)
		return
	}
	var rc Received
	if err := json.Unmarshal(raw, &rc); err != nil {
		a.t.Errorf("transaction %s: %v", id, err)
	}
	rc.TxnID, rc.Raw = id, raw
	for _, prev := range a.accepted {
		if prev.TxnID == id {
			// A retry of an accepted transaction: the appservice
			// recognises it (the spec's "AS ACK Lost").
			_, _ = w.Write([]byte(`{}`))
			return
		}
	}
	a.accepted = append(a.accepted, rc)
	a.got <- rc
	_, _ = w.Write([]byte(`{}`))
}

func (a *Appservice) SetDown(down bool) {
	a.mu.Lock()
	a.down = down
	a.mu.Unlock()
}

// WaitEvents collects accepted transactions until n room events came.
func (a *Appservice) WaitEvents(t testing.TB, n int) []Received {
	t.Helper()
	var out []Received
	count := 0
	timeout := time.After(5 * time.Minute)
	for count < n {
		select {
		case rc := <-a.got:
			out = append(out, rc)
			count += len(rc.Events)
		case <-timeout:
			t.Fatalf("the appservice received %d of %d events", count, n)
		}
	}
	return out
}

// Accepted returns the transactions accepted so far, in order.
func (a *Appservice) Accepted() []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Received(nil), a.accepted...)
}

// WaitUntil collects accepted transactions until one satisfies cond,
// and returns it.
func (a *Appservice) WaitUntil(t testing.TB, what string, cond func(Received) bool) Received {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case rc := <-a.got:
			if cond(rc) {
				return rc
			}
		case <-timeout:
			t.Fatalf("never reached the appservice: %s", what)
		}
	}
}

// WaitEphemeral collects accepted transactions until one carries an
// ephemeral event of type typ.
func (a *Appservice) WaitEphemeral(t testing.TB, typ string) Received {
	t.Helper()
	return a.WaitUntil(t, typ, func(rc Received) bool {
		for _, e := range rc.Ephemeral {
			if e.Type == typ {
				return true
			}
		}
		return false
	})
}

// WaitEvent collects accepted transactions until one carries the event.
func (a *Appservice) WaitEvent(t testing.TB, eventID string) Received {
	t.Helper()
	return a.WaitUntil(t, "event "+eventID, func(rc Received) bool {
		for _, e := range rc.Events {
			if e.EventID == eventID {
				return true
			}
		}
		return false
	})
}

func EventIDs(rcs []Received) []string {
	var out []string
	for _, rc := range rcs {
		for _, e := range rc.Events {
			out = append(out, e.EventID)
		}
	}
	return out
}

// CheckExactlyOnce fails unless want's events were each pushed once, in
// order, in transactions of at most maxEvents with growing IDs.
func CheckExactlyOnce(t testing.TB, rcs []Received, want []string, maxEvents int) {
	t.Helper()
	last := int64(0)
	for _, rc := range rcs {
		if len(rc.Events) > maxEvents {
			t.Errorf("transaction %s carries %d events, more than %d", rc.TxnID, len(rc.Events), maxEvents)
		}
		var id int64
		if _, err := fmt.Sscan(rc.TxnID, &id); err != nil || id <= last {
			t.Errorf("transaction ID %s after %d", rc.TxnID, last)
		}
		last = id
	}
	if got := EventIDs(rcs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pushed %d events %v\nwant %d: %v", len(got), got, len(want), want)
	}
}
