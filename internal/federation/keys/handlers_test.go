package keys

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/signing"
)

func get(t *testing.T, h http.Handler, method, target, body string) (int, []byte) {
	t.Helper()
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, target, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

func serverKeysList(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.ServerKeys == nil {
		t.Fatalf("not a server_keys response: %s (%v)", body, err)
	}
	return resp.ServerKeys
}

// TestServerKeys_Publish: GET /_matrix/key/v2/server returns our keys,
// self-signed, with old_verify_keys from old_signing_keys and
// valid_until_ts = now + key_refresh_interval ("Publishing Keys").
func TestServerKeys_Publish(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	retired := key(t, "retired", 7)
	us := newNode(t, net, clock, "us.example", 1, nodeOpts{refresh: 6 * time.Hour, old: map[signing.KeyID]signing.OldVerifyKey{
		retired.ID: {Key: signing.Base64Bytes(retired.Public()), ExpiredTS: 1234},
	}})
	code, body := get(t, us.mux, "GET", "/_matrix/key/v2/server", "")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	sk, err := signing.ParseServerKeys(body)
	if err != nil {
		t.Fatalf("our own document does not parse: %v", err)
	}
	if sk.ServerName != "us.example" || sk.ValidUntilTS != clock.Now().Add(6*time.Hour).UnixMilli() {
		t.Fatalf("server_name %q, valid_until_ts %d", sk.ServerName, sk.ValidUntilTS)
	}
	if vk := sk.VerifyKeys[us.key.ID]; !us.key.Public().Equal(ed25519.PublicKey(vk.Key)) {
		t.Fatal("current key not published")
	}
	if ok := sk.OldVerifyKeys[retired.ID]; ok.ExpiredTS != 1234 || !retired.Public().Equal(ed25519.PublicKey(ok.Key)) {
		t.Fatalf("old key: %+v", ok)
	}
	if err := signing.VerifyJSON(body, "us.example", us.key.ID, us.key.Public()); err != nil {
		t.Fatal(err)
	}
}

// TestPublisher_Refreshes: the document is reused for a while and rebuilt
// before much of its validity has gone, so it never has less than the
// refresh interval minus an hour to run.
func TestPublisher_Refreshes(t *testing.T) {
	clock := newClock()
	p, err := NewPublisher(PublisherConfig{ServerName: "us.example", Keys: []signing.SigningKey{key(t, "k", 1)}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	validUntil := func() int64 {
		doc, err := p.Document()
		if err != nil {
			t.Fatal(err)
		}
		sk, err := signing.ParseServerKeys(doc)
		if err != nil {
			t.Fatal(err)
		}
		return sk.ValidUntilTS
	}
	first := validUntil()
	if first != clock.Now().Add(DefaultRefreshInterval).UnixMilli() {
		t.Fatalf("default refresh interval not one day: %d", first)
	}
	clock.Add(59 * time.Minute)
	if validUntil() != first {
		t.Fatal("rebuilt within the hour")
	}
	clock.Add(time.Minute)
	if got := validUntil(); got != clock.Now().Add(DefaultRefreshInterval).UnixMilli() {
		t.Fatalf("not rebuilt after an hour: %d", got)
	}
	if _, err := NewPublisher(PublisherConfig{ServerName: "us.example"}); err == nil {
		t.Fatal("a publisher without keys was accepted")
	}
}

// TestNotary_Query: GET /_matrix/key/v2/query/{serverName} answers for us
// and, by fetching and caching, for others, adding our signature to the
// server's own.
func TestNotary_Query(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	notary := newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})

	code, body := get(t, notary.mux, "GET", "/_matrix/key/v2/query/notary.example", "")
	list := serverKeysList(t, body)
	if code != 200 || len(list) != 1 {
		t.Fatalf("query for ourselves: %d %s", code, body)
	}
	if err := signing.VerifyJSON(list[0], "notary.example", notary.key.ID, notary.key.Public()); err != nil {
		t.Fatal(err)
	}

	code, body = get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example", "")
	list = serverKeysList(t, body)
	if code != 200 || len(list) != 1 {
		t.Fatalf("query for a.example: %d %s", code, body)
	}
	sk, err := signing.ParseServerKeys(list[0])
	if err != nil || sk.ServerName != "a.example" {
		t.Fatalf("relayed document: %v", err)
	}
	if err := signing.VerifyJSON(list[0], "notary.example", notary.key.ID, notary.key.Public()); err != nil {
		t.Fatalf("notary signature: %v", err)
	}
	if err := signing.VerifyJSON(list[0], "a.example", a.key.ID, a.key.Public()); err != nil {
		t.Fatalf("server signature: %v", err)
	}

	// Cached: a second query makes no request.
	get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example", "")
	if n := net.callsTo("notary.example", "a.example"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestNotary_MinimumValidUntil: a cached copy is served while it is valid
// until at least minimum_valid_until_ts (the current time when absent);
// otherwise the notary fetches again, and when the server is unreachable
// it still serves the last copy it has.
func TestNotary_MinimumValidUntil(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	notary := newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	newNode(t, net, clock, "a.example", 2, nodeOpts{refresh: time.Hour})
	firstValid := clock.Now().Add(time.Hour).UnixMilli()
	get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example", "")

	// a.example rebuilds its document after half its refresh interval.
	clock.Add(31 * time.Minute)
	get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example?minimum_valid_until_ts="+strconv.FormatInt(firstValid, 10), "")
	if n := net.callsTo("notary.example", "a.example"); n != 1 {
		t.Fatalf("refetched although the copy is valid long enough (%d fetches)", n)
	}
	_, body := get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example?minimum_valid_until_ts="+strconv.FormatInt(firstValid+1, 10), "")
	if n := net.callsTo("notary.example", "a.example"); n != 2 {
		t.Fatalf("not refetched for a later minimum_valid_until_ts (%d fetches)", n)
	}
	sk, _ := signing.ParseServerKeys(serverKeysList(t, body)[0])
	if sk.ValidUntilTS <= firstValid {
		t.Fatalf("served the old copy after a refetch: valid until %d", sk.ValidUntilTS)
	}

	// Without the parameter the current time applies: past the copy's
	// validity the notary fetches; with the server down it serves the
	// stale copy rather than nothing.
	net.down("a.example")
	clock.Add(2 * time.Hour)
	_, body = get(t, notary.mux, "GET", "/_matrix/key/v2/query/a.example", "")
	if n := net.callsTo("notary.example", "a.example"); n != 3 {
		t.Fatalf("expired copy not refetched (%d fetches)", n)
	}
	if list := serverKeysList(t, body); len(list) != 1 {
		t.Fatalf("stale copy not served while the server is down: %s", body)
	}
	// Unknown and unreachable: an empty list.
	_, body = get(t, notary.mux, "GET", "/_matrix/key/v2/query/nowhere.example", "")
	if list := serverKeysList(t, body); len(list) != 0 {
		t.Fatalf("answered for an unreachable unknown server: %s", body)
	}
}

// TestNotary_BatchQuery: POST /_matrix/key/v2/query answers for several
// servers at once, skips those it cannot reach, and refetches when a
// requested key ID is missing from its copy.
func TestNotary_BatchQuery(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	notary := newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	a := newNode(t, net, clock, "a.example", 2, nodeOpts{})
	b := newNode(t, net, clock, "b.example", 3, nodeOpts{})
	body := `{"server_keys":{"a.example":{"` + string(a.key.ID) + `":{"minimum_valid_until_ts":0}},` +
		`"b.example":{},"nowhere.example":{},"notary.example":{},"not a name":{}}}`
	code, resp := get(t, notary.mux, "POST", "/_matrix/key/v2/query", body)
	list := serverKeysList(t, resp)
	if code != 200 || len(list) != 3 {
		t.Fatalf("%d: %s", code, resp)
	}
	names := map[string]bool{}
	for _, raw := range list {
		sk, err := signing.ParseServerKeys(raw)
		if err != nil {
			t.Fatal(err)
		}
		names[sk.ServerName] = true
		if err := signing.VerifyJSON(raw, "notary.example", notary.key.ID, notary.key.Public()); err != nil {
			t.Fatalf("%s not signed by the notary: %v", sk.ServerName, err)
		}
	}
	if !names["a.example"] || !names["b.example"] || !names["notary.example"] {
		t.Fatalf("answered for %v", names)
	}

	// A key ID the cached copy lacks makes the notary look again.
	clock.Add(time.Minute)
	get(t, notary.mux, "POST", "/_matrix/key/v2/query", `{"server_keys":{"b.example":{"ed25519:new":{}}}}`)
	if n := net.callsTo("notary.example", "b.example"); n != 2 {
		t.Fatalf("%d fetches of b.example, want a refetch for the unknown key ID", n)
	}
	_ = b
}

// TestNotary_BadRequests: the request shapes the spec requires.
func TestNotary_BadRequests(t *testing.T) {
	net, clock := newFakeNet(), newClock()
	notary := newNode(t, net, clock, "notary.example", 9, nodeOpts{})
	tests := []struct {
		name, method, target, body string
		status                     int
		errcode                    string
	}{
		{"empty server_keys gives an empty list", "POST", "/_matrix/key/v2/query", `{"server_keys":{}}`, 200, ""},
		{"missing server_keys", "POST", "/_matrix/key/v2/query", `{}`, 400, "M_BAD_JSON"},
		{"server_keys not an object", "POST", "/_matrix/key/v2/query", `{"server_keys":[]}`, 400, "M_BAD_JSON"},
		{"not JSON", "POST", "/_matrix/key/v2/query", `{`, 400, "M_NOT_JSON"},
		{"bad minimum_valid_until_ts", "GET", "/_matrix/key/v2/query/a.example?minimum_valid_until_ts=soon", "", 400, "M_INVALID_PARAM"},
		{"bad server name", "GET", "/_matrix/key/v2/query/a%20b", "", 400, "M_INVALID_PARAM"},
		{"too many servers", "POST", "/_matrix/key/v2/query", tooManyServers(), 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, notary.mux, tt.method, tt.target, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if tt.errcode == "" {
				if list := serverKeysList(t, body); len(list) != 0 {
					t.Fatalf("got %s", body)
				}
				return
			}
			var e struct{ Errcode string }
			_ = json.Unmarshal(body, &e)
			if e.Errcode != tt.errcode {
				t.Fatalf("errcode %q, want %q (%s)", e.Errcode, tt.errcode, body)
			}
		})
	}
}

func tooManyServers() string {
	var b strings.Builder
	b.WriteString(`{"server_keys":{`)
	for i := range MaxQueryServers + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"s` + strconv.Itoa(i) + `.example":{}`)
	}
	b.WriteString(`}}`)
	return b.String()
}
