package fede2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
	pdu "github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// rogue is a federation server that runs inside the test process: its own
// server name on a fresh loopback address, its own ed25519 key, and a
// certificate from the cluster's CA, so the Myelin servers reach it and
// trust its TLS like any other server. Unlike them it does whatever a test
// tells it to: publish a key document that lies, sign events with the
// wrong key, tamper with content after hashing, break the auth rules,
// replay transactions.
//
// It keeps a small view of each room it joined (events, current state,
// forward extremities), fed by its own accepted events and by the
// transactions the honest servers send it, so that its events cite real
// prev_events and auth_events and are refused only for what a test made
// wrong with them. It answers the key endpoint, PUT /send (accepting
// everything), GET /event for events it holds, and 404 for the rest; it
// records every request it serves for failure messages.
type rogue struct {
	label string
	host  string
	name  string // server name: host:port
	// key signs events; reqKey signs X-Matrix requests (the same key
	// unless a test wants requests signed with a key it never published).
	key, reqKey signing.SigningKey
	// validUntil is the valid_until_ts of the published key document.
	validUntil int64
	keyDoc     []byte
	httpc      *http.Client
	srv        *http.Server

	// routes holds what a test adds to the rogue's answers (handle).
	routes *http.ServeMux

	mu     sync.Mutex
	rooms  map[string]*rogueRoom
	served []string
	lastTS int64
	// edus are the EDUs received in transactions, in order.
	edus []rogueEDU
}

// rogueEDU is one EDU a rogue received.
type rogueEDU struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// receivedEDUs returns the EDUs of eduType received so far.
func (r *rogue) receivedEDUs(eduType string) []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []json.RawMessage
	for _, e := range r.edus {
		if e.Type == eduType {
			out = append(out, e.Content)
		}
	}
	return out
}

// rogueRoom is what the rogue knows of one room.
type rogueRoom struct {
	v          *roomversion.Version
	events     map[string]*pdu.Event
	state      eventauth.StateMap
	referenced map[string]bool // IDs cited as prev_events
	tips       map[string]bool // forward extremities
}

// rogueKeyValidity is how long the key documents a rogue publishes by
// default stay valid.
const rogueKeyValidity = time.Hour

// newRogue starts a rogue server. docFor, when not nil, makes the key
// document it publishes from its name and key; nil publishes a correct,
// self-signed one valid for rogueKeyValidity.
func newRogue(t testing.TB, c *cluster, label string, docFor func(name string, key signing.SigningKey) []byte) *rogue {
	t.Helper()
	host := allocHost(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("%s: listen on %s: %v", label, host, err)
	}
	key, err := signing.GenerateSigningKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{
		label: label, host: host, name: ln.Addr().String(),
		key: key, reqKey: key,
		validUntil: time.Now().Add(rogueKeyValidity).UnixMilli(),
		rooms:      map[string]*rogueRoom{}, routes: http.NewServeMux(),
	}
	if docFor != nil {
		r.keyDoc = docFor(r.name, key)
	} else if r.keyDoc, err = signing.BuildServerKeys(r.name, []signing.SigningKey{key}, nil, r.validUntil); err != nil {
		t.Fatal(err)
	}
	r.httpc = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: c.ca.Pool, MinVersion: tls.VersionTLS12},
	}}
	cert := c.ca.Issue(t, host)
	r.srv = &http.Server{Handler: r.mux(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		_ = r.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	t.Cleanup(func() {
		_ = r.srv.Close()
		r.httpc.CloseIdleConnections()
		if t.Failed() || os.Getenv("MYELIN_TEST_LOG") != "" {
			r.mu.Lock()
			t.Logf("%s (%s) served:\n  %s", r.label, r.name, strings.Join(r.served, "\n  "))
			r.mu.Unlock()
		}
	})
	return r
}

// handle makes the rogue answer pattern (an http.ServeMux pattern) with h.
func (r *rogue) handle(pattern string, h http.HandlerFunc) { r.routes.HandleFunc(pattern, h) }

// userID is @localpart on the rogue.
func (r *rogue) userID(localpart string) string { return "@" + localpart + ":" + r.name }

// mux answers what the honest servers ask of the rogue.
func (r *rogue) mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /_matrix/key/v2/server", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONBytes(w, http.StatusOK, r.keyDoc)
	})
	m.HandleFunc("PUT /_matrix/federation/v1/send/{txnId}", func(w http.ResponseWriter, req *http.Request) {
		var txn struct {
			PDUs []json.RawMessage `json:"pdus"`
			EDUs []rogueEDU        `json:"edus"`
		}
		body, _ := io.ReadAll(io.LimitReader(req.Body, 8<<20))
		if json.Unmarshal(body, &txn) != nil {
			writeJSONBytes(w, http.StatusBadRequest, []byte(`{"errcode":"M_NOT_JSON","error":"bad transaction"}`))
			return
		}
		// The honest servers are trusted here: this is a test tool, and
		// what it learns only decides which events its own cite.
		for _, raw := range txn.PDUs {
			r.learn(raw)
		}
		r.mu.Lock()
		r.edus = append(r.edus, txn.EDUs...)
		r.mu.Unlock()
		writeJSONBytes(w, http.StatusOK, []byte(`{"pdus":{}}`))
	})
	m.HandleFunc("GET /_matrix/federation/v1/event/{eventId}", func(w http.ResponseWriter, req *http.Request) {
		ev := r.known(req.PathValue("eventId"))
		if ev == nil {
			writeJSONBytes(w, http.StatusNotFound, []byte(`{"errcode":"M_NOT_FOUND","error":"unknown event"}`))
			return
		}
		body, _ := json.Marshal(map[string]any{"origin": r.name, "origin_server_ts": time.Now().UnixMilli(),
			"pdus": []json.RawMessage{ev.FederationJSON()}})
		writeJSONBytes(w, http.StatusOK, body)
	})
	// Any media download is answered with a Location part pointing into
	// 10.0.0.0/8, which no server may be made to reach.
	m.HandleFunc("GET /_matrix/federation/v1/media/download/{mediaId}", func(w http.ResponseWriter, _ *http.Request) {
		const boundary = "roguemediaboundary"
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+boundary)
		_, _ = io.WriteString(w, "--"+boundary+"\r\nContent-Type: application/json\r\n\r\n{}\r\n--"+boundary+
			"\r\nLocation: https://10.255.255.1/media\r\n\r\n\r\n--"+boundary+"--\r\n")
	})
	m.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		if h, pattern := r.routes.Handler(req); pattern != "" {
			h.ServeHTTP(w, req)
			return
		}
		writeJSONBytes(w, http.StatusNotFound, []byte(`{"errcode":"M_UNRECOGNIZED","error":"not served by this rogue"}`))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		m.ServeHTTP(rec, req)
		r.mu.Lock()
		r.served = append(r.served, fmt.Sprintf("%s %s -> %d", req.Method, req.URL.RequestURI(), rec.status))
		r.mu.Unlock()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// learn adds an event an honest server sent to the rogue's view of its
// room, if the rogue is in that room.
func (r *rogue) learn(raw json.RawMessage) {
	var head struct {
		RoomID string `json:"room_id"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.rooms[head.RoomID]
	if room == nil {
		return
	}
	if ev, err := pdu.Parse(raw, room.v); err == nil {
		room.add(ev)
	}
}

// add records ev as part of the room: a forward extremity unless something
// already cites it, and the current value of its state tuple unless a
// deeper event holds it. The rooms these tests use are nearly linear, so
// this simple view is enough to cite prev and auth events that exist.
func (room *rogueRoom) add(ev *pdu.Event) {
	if _, ok := room.events[ev.EventID()]; ok {
		return
	}
	room.events[ev.EventID()] = ev
	for _, p := range ev.PrevEventIDs() {
		room.referenced[p] = true
		delete(room.tips, p)
	}
	if !room.referenced[ev.EventID()] {
		room.tips[ev.EventID()] = true
	}
	if t, ok := ev.Tuple(); ok {
		if old := room.state[t]; old == nil || old.Depth() <= ev.Depth() {
			room.state[t] = ev
		}
	}
}

// known returns an event the rogue holds (its own accepted ones and those
// it was sent), or nil. Hostile events are never held, so a server cannot
// fetch, say, the untampered original of an event whose content the test
// changed.
func (r *rogue) known(eventID string) *pdu.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, room := range r.rooms {
		if ev := room.events[eventID]; ev != nil {
			return ev
		}
	}
	return nil
}

// exchange sends a federation request to dest signed with X-Matrix by
// r.reqKey (server-server-api, "Request Authentication") and returns the
// answer. body is sent exactly as given, so a replay can repeat the bytes.
func (r *rogue) exchange(t testing.TB, dest *homeserver, method, path string, body []byte) *harness.Exchange {
	t.Helper()
	auth, err := xmatrix.Sign(xmatrix.Request{Method: method, URI: path, Origin: r.name, Destination: dest.name, Content: body}, r.reqKey)
	if err != nil {
		t.Fatal(err)
	}
	to := harness.Endpoint{Label: r.label + "→" + dest.label, URL: dest.url, Client: r.httpc}
	x, err := to.Send(context.Background(), method, path, body, http.Header{"Authorization": {auth.String()}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// mustExchange is exchange that fails the test unless dest answers 200.
func (r *rogue) mustExchange(t testing.TB, dest *homeserver, method, path string, body []byte, out any) *harness.Exchange {
	t.Helper()
	x := r.exchange(t, dest, method, path, body)
	dest.proc.RequireOK(t, x, "", out)
	return x
}

// makeJoinPath is GET /make_join for userID, offering every room version
// Myelin knows.
func makeJoinPath(roomID, userID string) string {
	q := url.Values{}
	for _, v := range roomversion.All() {
		q.Add("ver", string(v.ID))
	}
	return "/_matrix/federation/v1/make_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID) + "?" + q.Encode()
}

// join joins @localpart:rogue to roomID through hs with make_join and
// send_join v2 (server-server-api, "Joining Rooms"), and starts the
// rogue's view of the room from the state send_join returns.
func (r *rogue) join(t testing.TB, hs *homeserver, roomID, localpart string) *pdu.Event {
	t.Helper()
	userID := r.userID(localpart)
	var tmpl struct {
		RoomVersion string          `json:"room_version"`
		Event       json.RawMessage `json:"event"`
	}
	r.mustExchange(t, hs, "GET", makeJoinPath(roomID, userID), nil, &tmpl)
	v, ok := roomversion.Get(roomversion.ID(tmpl.RoomVersion))
	if !ok {
		t.Fatalf("make_join answered room version %q", tmpl.RoomVersion)
	}
	b, err := pdu.BuilderFromTemplate(tmpl.Event, v)
	if err != nil {
		t.Fatalf("make_join template: %v", err)
	}
	content := map[string]any{}
	_ = json.Unmarshal(b.Content, &content)
	content["membership"] = "join"
	content["displayname"] = localpart + " (rogue)"
	b.Content, _ = json.Marshal(content)
	if v.LegacyPDUFields {
		b.Origin = r.name
	}
	b.OriginServerTS = r.nextTS()
	join := r.sign(t, v, b, r.name, r.key)
	var resp struct {
		State     []json.RawMessage `json:"state"`
		AuthChain []json.RawMessage `json:"auth_chain"`
	}
	r.mustExchange(t, hs, "PUT", "/_matrix/federation/v2/send_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(join.EventID()),
		join.FederationJSON(), &resp)
	room := &rogueRoom{v: v, events: map[string]*pdu.Event{}, state: eventauth.StateMap{},
		referenced: map[string]bool{}, tips: map[string]bool{}}
	for _, raw := range append(resp.AuthChain, resp.State...) {
		ev, err := pdu.Parse(raw, v)
		if err != nil {
			t.Fatalf("send_join answered an event that does not parse: %v\n%s", err, raw)
		}
		room.events[ev.EventID()] = ev
	}
	for _, raw := range resp.State {
		ev, _ := pdu.Parse(raw, v)
		if t, ok := ev.Tuple(); ok {
			room.state[t] = ev
		}
	}
	// The join's prev_events were the room's extremities; the join is now
	// the only one.
	room.add(join)
	r.mu.Lock()
	r.rooms[roomID] = room
	r.mu.Unlock()
	return join
}

// nextTS returns the time in ms, strictly increasing per rogue, so that
// no two of its events share origin_server_ts (two messages from one
// sender that differ only in content would otherwise have redacted forms
// that differ only in their hashes).
func (r *rogue) nextTS() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastTS = max(r.lastTS+1, time.Now().UnixMilli())
	return r.lastTS
}

// roomPoint is a position in a room as the rogue sees it: the forward
// extremities and the state there.
type roomPoint struct {
	tips  []string
	state eventauth.StateMap
	depth int64
}

// point returns the rogue's current position in roomID.
func (r *rogue) point(t testing.TB, roomID string) roomPoint {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.rooms[roomID]
	if room == nil {
		t.Fatalf("%s is not in %s", r.label, roomID)
	}
	p := roomPoint{state: eventauth.StateMap{}}
	for id := range room.tips {
		p.tips = append(p.tips, id)
		p.depth = max(p.depth, room.events[id].Depth())
	}
	sort.Strings(p.tips)
	for k, ev := range room.state {
		p.state[k] = ev
	}
	return p
}

// version is the room version of a room the rogue joined.
func (r *rogue) version(roomID string) *roomversion.Version {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[roomID].v
}

// prepare completes b as an event at position p of roomID: prev_events
// are p's extremities, auth_events are chosen from p's state by the
// spec's selection rules (server-server-api, "Auth events selection"),
// depth follows the prevs, and origin_server_ts is now unless b set one.
func (r *rogue) prepare(t testing.TB, roomID string, p roomPoint, b *pdu.Builder) *roomversion.Version {
	t.Helper()
	v := r.version(roomID)
	b.RoomID = roomID
	b.PrevEvents = p.tips
	b.Depth = p.depth + 1
	if b.OriginServerTS == 0 {
		b.OriginServerTS = r.nextTS()
	}
	if v.LegacyPDUFields {
		b.Origin = r.name
	}
	auth, err := eventauth.SelectAuthEvents(v, b, p.state)
	if err != nil {
		t.Fatal(err)
	}
	b.AuthEvents = auth
	return v
}

// sign builds, hashes and signs b as server with key.
func (r *rogue) sign(t testing.TB, v *roomversion.Version, b *pdu.Builder, server string, key signing.SigningKey) *pdu.Event {
	t.Helper()
	ev, err := b.Build(v, server, key)
	if err != nil {
		t.Fatalf("building a %s event: %v", b.Type, err)
	}
	return ev
}

// event builds an event from b at the rogue's current position, signed by
// the rogue as itself. It is not added to the rogue's view: call accept
// for events the honest servers should take.
func (r *rogue) newEvent(t testing.TB, roomID string, b *pdu.Builder) *pdu.Event {
	t.Helper()
	v := r.prepare(t, roomID, r.point(t, roomID), b)
	return r.sign(t, v, b, r.name, r.key)
}

// accept adds an event the rogue sent in good faith to its view, so
// later events cite it.
func (r *rogue) accept(ev *pdu.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rooms[ev.RoomID()].add(ev)
}

// message returns the Builder of an m.room.message from sender.
func message(sender, body string) *pdu.Builder {
	return &pdu.Builder{Type: "m.room.message", Sender: sender, Content: mustJSON(textContent(body))}
}

// stateEvent returns the Builder of a state event from sender.
func stateEvent(sender, typ, stateKey string, content any) *pdu.Builder {
	return &pdu.Builder{Type: typ, StateKey: &stateKey, Sender: sender, Content: mustJSON(content)}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// txnBody is the body of PUT /send/{txnId} carrying pdus (server-server
// API, "Transactions").
func (r *rogue) txnBody(pdus ...[]byte) []byte {
	raws := make([]json.RawMessage, len(pdus))
	for i, p := range pdus {
		raws[i] = p
	}
	return mustJSON(map[string]any{"origin": r.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": raws, "edus": []any{}})
}

// send PUTs a transaction with body to dest under txnID and returns the
// per-PDU results, failing the test unless dest answers 200: an event
// refused for what it is must not fail the transaction (server-server
// API, "Rejection").
func (r *rogue) send(t testing.TB, dest *homeserver, txnID string, body []byte) map[string]map[string]string {
	t.Helper()
	var resp struct {
		PDUs map[string]map[string]string `json:"pdus"`
	}
	r.mustExchange(t, dest, "PUT", "/_matrix/federation/v1/send/"+url.PathEscape(txnID), body, &resp)
	return resp.PDUs
}

// sendPDUs sends pdus to each of dests in a new transaction.
func (r *rogue) sendPDUs(t testing.TB, dests []*homeserver, pdus ...[]byte) {
	t.Helper()
	body := r.txnBody(pdus...)
	for _, d := range dests {
		res := r.send(t, d, newTxnID(), body)
		t.Logf("%s → %s: transaction results %v", r.label, d.label, res)
	}
}
