package federationapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/fedauth"
	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
)

// The rig: hs1.test is the server under test, its federation API on a
// loopback httptest server behind the real X-Matrix authenticator (keys
// come from a fixed table instead of the network). hs2.test has a room
// engine of its own, so that it can join and send real events; evil.test
// only signs requests.

const us = "hs1.test"

type engine struct {
	name string
	key  signing.SigningKey
	e    *rooms.Engine
}

func newEngine(t *testing.T, db *sqldb.DB, name string, seed byte) *engine {
	t.Helper()
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	key := testKey(t, seed)
	pos, err := st.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := rooms.New(rooms.Config{Store: st, ServerName: name, Key: key, Stream: streams.NewTracker(pos), Notifier: streams.NewNotifier()})
	t.Cleanup(e.Close)
	return &engine{name: name, key: key, e: e}
}

func testKey(t *testing.T, seed byte) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey("k"+string(rune('a'+seed)), bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func secondDB(t *testing.T, db *sqldb.DB) *sqldb.DB {
	if db.Dialect() == sqldb.Postgres {
		return storagetest.NewPostgres(t)
	}
	return storagetest.NewSQLite(t)
}

// staticKeys is the key ring of the rig: every peer's request key, known
// in advance.
type staticKeys map[string]signing.SigningKey

func (k staticKeys) RequestKey(_ context.Context, server string, id signing.KeyID) (ed25519.PublicKey, error) {
	if key, ok := k[server]; ok && key.ID == id {
		return key.Public(), nil
	}
	return nil, errors.New("unknown key")
}

// trustingVerifier stands in for signature checks (tested with the keys
// package); it counts the events it was asked about.
type trustingVerifier struct{ calls atomic.Int64 }

func (v *trustingVerifier) VerifyEvent(_ context.Context, ev *event.Event) (*event.Event, error) {
	v.calls.Add(1)
	return ev, nil
}

// peerFetcher answers hs1's fetches from hs2's engine, as hs2's API would.
type peerFetcher struct{ peer *rooms.Engine }

func (f peerFetcher) FetchEvent(ctx context.Context, _, id string) (*event.Event, error) {
	se, err := f.peer.Store().Event(ctx, id)
	if err != nil {
		return nil, err
	}
	return se.Event, nil
}

func (f peerFetcher) MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int) ([]*event.Event, error) {
	return f.peer.MissingEvents(ctx, roomID, earliest, latest, limit, 0)
}

func (f peerFetcher) StateIDs(ctx context.Context, roomID, id string) ([]string, []string, error) {
	st, chain, err := f.peer.StateAtEvent(ctx, roomID, id)
	return eventIDs(st), eventIDs(chain), err
}

type rig struct {
	t      *testing.T
	api    *API
	hs1    *engine
	hs2    *engine
	url    string
	keys   staticKeys
	verify *trustingVerifier
	txn    int
}

func newRig(t *testing.T, db *sqldb.DB) *rig {
	t.Helper()
	r := &rig{t: t, verify: &trustingVerifier{}}
	r.hs1 = newEngine(t, db, us, 1)
	r.hs2 = newEngine(t, secondDB(t, db), "hs2.test", 2)
	r.keys = staticKeys{"hs2.test": r.hs2.key, "evil.test": testKey(t, 3)}
	auth, err := fedauth.New(fedauth.Config{ServerName: us, Keys: r.keys})
	if err != nil {
		t.Fatal(err)
	}
	api := &API{Engine: r.hs1.e, ServerName: us, Verify: r.verify,
		Remote: func(string) rooms.RemoteFetcher { return peerFetcher{r.hs2.e} },
		Origin: fedauth.OriginOf, Auth: auth.RequireServerAuth}
	router := httpapi.NewRouter(httpapi.Options{})
	api.Register(router)
	r.api = api
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// do sends an X-Matrix signed request from origin and returns the status
// and body.
func (r *rig) do(origin, method, path string, body any) (int, []byte) {
	r.t.Helper()
	var content []byte
	if body != nil {
		var err error
		if content, err = json.Marshal(body); err != nil {
			r.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader(content))
	if err != nil {
		r.t.Fatal(err)
	}
	auth, err := xmatrix.Sign(xmatrix.Request{Method: method, URI: req.URL.RequestURI(), Origin: origin, Destination: us, Content: content}, r.keys[origin])
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", auth.String())
	if content != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// expect checks a response's status, and for a 403 that it is the ACL's
// M_FORBIDDEN (the endpoints have other reasons to answer 403).
func (r *rig) expect(what string, wantStatus int, status int, body []byte) {
	r.t.Helper()
	if status != wantStatus {
		r.t.Fatalf("%s: status %d (%s), want %d", what, status, body, wantStatus)
	}
	if wantStatus == http.StatusForbidden {
		var e struct{ Errcode, Error string }
		_ = json.Unmarshal(body, &e)
		if e.Errcode != "M_FORBIDDEN" || !strings.Contains(e.Error, "server ACL") {
			r.t.Fatalf("%s: body %s, want the server ACL's M_FORBIDDEN", what, body)
		}
	}
}

// setACL sends an m.room.server_acl from the room's creator on hs1.
func (r *rig) setACL(roomID string, content map[string]any) {
	r.t.Helper()
	empty := ""
	if _, err := r.hs1.e.Send(context.Background(), roomID, &event.Builder{Type: event.TypeServerACL, StateKey: &empty,
		Sender: "@alice:" + us, Content: rooms.Content(content)}, nil); err != nil {
		r.t.Fatal(err)
	}
}

// join runs make_join and send_join over HTTP for a user of hs2, then
// records the joined room on hs2's engine.
func (r *rig) join(roomID, userID string) {
	r.t.Helper()
	b, v := r.template("make_join", roomID, userID)
	ev := r.build(b, v)
	status, body := r.do("hs2.test", "PUT", "/_matrix/federation/v2/send_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(ev.EventID()), json.RawMessage(ev.FederationJSON()))
	r.expect("send_join", http.StatusOK, status, body)
	var resp struct {
		State     []json.RawMessage `json:"state"`
		AuthChain []json.RawMessage `json:"auth_chain"`
		Event     json.RawMessage   `json:"event"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		r.t.Fatal(err)
	}
	parse := func(raws []json.RawMessage) []*event.Event {
		var out []*event.Event
		for _, raw := range raws {
			e, err := event.Parse(raw, v)
			if err != nil {
				r.t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	joined := parse([]json.RawMessage{resp.Event})[0]
	if err := r.hs2.e.JoinRemoteRoom(context.Background(), v, joined, parse(resp.State), parse(resp.AuthChain)); err != nil {
		r.t.Fatal(err)
	}
}

// send delivers PDUs from origin in a new transaction and returns the
// per-PDU results.
func (r *rig) send(origin string, evs ...*event.Event) map[string]map[string]string {
	r.t.Helper()
	r.txn++
	var pdus []json.RawMessage
	for _, ev := range evs {
		pdus = append(pdus, ev.FederationJSON())
	}
	status, body := r.do(origin, "PUT", fmt.Sprintf("/_matrix/federation/v1/send/t%d", r.txn),
		map[string]any{"origin": origin, "origin_server_ts": 1, "pdus": pdus, "edus": []any{}})
	r.expect("send", http.StatusOK, status, body)
	var resp struct {
		PDUs map[string]map[string]string `json:"pdus"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		r.t.Fatal(err)
	}
	return resp.PDUs
}

func (r *rig) stored(eventID string) bool {
	r.t.Helper()
	se, err := r.hs1.e.Store().Event(context.Background(), eventID)
	return err == nil && !se.Outlier && !se.Rejected
}

func (r *rig) message(roomID, body string) *event.Event {
	r.t.Helper()
	ev, err := r.hs2.e.Send(context.Background(), roomID, &event.Builder{Type: event.TypeMessage, Sender: "@bob:hs2.test",
		Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": body})}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return ev
}

// TestServerACL_Federation follows a room through its ACL changes
// (server-server-api "Server Access Control Lists (ACLs)"; rules in the
// m.room.server_acl schema).
func TestServerACL_Federation(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		room := url.PathEscape(roomID)
		makeJoin := func(origin, user string) (int, []byte) {
			return r.do(origin, "GET", "/_matrix/federation/v1/make_join/"+room+"/"+url.PathEscape(user)+"?ver=10", nil)
		}

		// Rule 1: no m.room.server_acl event, every server may join.
		status, body := makeJoin("evil.test", "@mallory:evil.test")
		r.expect("make_join without an ACL", http.StatusOK, status, body)
		r.join(roomID, "@bob:hs2.test")
		hello := r.message(roomID, "hello")
		if res := r.send("hs2.test", hello); res[hello.EventID()]["error"] != "" || !r.stored(hello.EventID()) {
			t.Fatalf("/send without an ACL: %v, stored %v", res, r.stored(hello.EventID()))
		}
		latest := url.QueryEscape(hello.EventID())
		protected := []struct {
			what, method, path string
			body               any
		}{
			{"state", "GET", "/_matrix/federation/v1/state/" + room + "?event_id=" + latest, nil},
			{"state_ids", "GET", "/_matrix/federation/v1/state_ids/" + room + "?event_id=" + latest, nil},
			{"backfill", "GET", "/_matrix/federation/v1/backfill/" + room + "?v=" + latest + "&limit=10", nil},
			{"event_auth", "GET", "/_matrix/federation/v1/event_auth/" + room + "/" + url.PathEscape(hello.EventID()), nil},
			{"get_missing_events", "POST", "/_matrix/federation/v1/get_missing_events/" + room,
				map[string]any{"earliest_events": []string{}, "latest_events": []string{hello.EventID()}, "limit": 5}},
			{"make_leave", "GET", "/_matrix/federation/v1/make_leave/" + room + "/" + url.PathEscape("@bob:hs2.test"), nil},
		}
		expectAll := func(when string, want int) {
			t.Helper()
			for _, p := range protected {
				status, body := r.do("hs2.test", p.method, p.path, p.body)
				r.expect(p.what+" "+when, want, status, body)
			}
		}
		expectAll("without an ACL", http.StatusOK)

		// Rule 3: a deny match denies, whatever allow says; other servers
		// are unaffected.
		r.setACL(roomID, map[string]any{"allow": []string{"*"}, "deny": []string{"evil.test"}})
		status, body = makeJoin("evil.test", "@mallory:evil.test")
		r.expect("make_join for a denied server", http.StatusForbidden, status, body)
		expectAll("when another server is denied", http.StatusOK)

		// The ACL changes (a new event ID, so a new cache entry): now hs2
		// is denied, by a glob and case-insensitively.
		r.setACL(roomID, map[string]any{"allow": []string{"*"}, "deny": []string{"HS?.test"}})
		status, body = makeJoin("hs2.test", "@carol:hs2.test")
		r.expect("make_join for hs2 once denied", http.StatusForbidden, status, body)
		expectAll("once hs2 is denied", http.StatusForbidden)
		for _, p := range []struct{ method, path string }{
			{"PUT", "v2/send_join"}, {"PUT", "v2/send_leave"}, {"PUT", "v1/send_knock"}, {"PUT", "v2/invite"}, {"GET", "v1/make_knock"},
		} {
			var body any
			if p.method == "PUT" {
				body = map[string]any{}
			}
			status, resp := r.do("hs2.test", p.method, "/_matrix/federation/"+p.path+"/"+room+"/"+url.PathEscape("$x"), body)
			r.expect(p.path+" once hs2 is denied", http.StatusForbidden, status, resp)
		}

		// /send: the denied server's PDU gets an error in its result, is
		// not stored, and its signatures are not even checked.
		denied := r.message(roomID, "while denied")
		verified := r.verify.calls.Load()
		res := r.send("hs2.test", denied)
		if res[denied.EventID()]["error"] == "" {
			t.Fatalf("/send from a denied server: results %v, want an error for %s", res, denied.EventID())
		}
		if r.stored(denied.EventID()) {
			t.Fatal("a denied server's PDU was stored")
		}
		if r.verify.calls.Load() != verified {
			t.Fatal("a denied server's PDU was verified")
		}

		// Rules 4 and 5: only hs2.test is allowed now. The PDU refused
		// earlier goes through.
		r.setACL(roomID, map[string]any{"allow": []string{"hs2.test"}})
		expectAll("once hs2 is allowed again", http.StatusOK)
		status, body = makeJoin("evil.test", "@mallory:evil.test")
		r.expect("make_join for a server not allowed", http.StatusForbidden, status, body)
		if res := r.send("hs2.test", denied); res[denied.EventID()]["error"] != "" || !r.stored(denied.EventID()) {
			t.Fatalf("/send once allowed again: %v, stored %v", res, r.stored(denied.EventID()))
		}

		// A room we do not know has no ACL to apply: the handler answers.
		status, body = r.do("evil.test", "GET", "/_matrix/federation/v1/state_ids/"+url.PathEscape("!nowhere:"+us)+"?event_id=%24x", nil)
		r.expect("state_ids for an unknown room", http.StatusNotFound, status, body)
	})
}
