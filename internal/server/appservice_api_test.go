package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A registration that fails its checks stops the start and names its file
// (application-service-api.md, Registration: ids and as_tokens "MUST be
// unique ... The homeserver MUST enforce this").
func TestAppservice_BadRegistrationStopsStart(t *testing.T) {
	dir := t.TempDir()
	reg := "id: bridge\nurl: null\nas_token: same\nhs_token: other\nsender_localpart: bot\n"
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(reg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := servertest.WriteConfig(t, dir, storagetest.NewSQLite(t), servertest.Options{
		ExtraYAML: "app_service_config_files: [a.yaml, b.yaml]\n"})
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		s.Close()
		t.Fatal("the server started with two appservices of the same id")
	}
	if msg := err.Error(); !strings.Contains(msg, "app_service_config_files") || !strings.Contains(msg, "b.yaml") || !strings.Contains(msg, `both have id "bridge"`) {
		t.Errorf("error %q should name the key, the file and the clash", msg)
	}
}

// bridgeAS is the appservice of these tests: @_irc_*:localhost exclusively,
// #_irc_* aliases exclusively, and the sender @_irc_bot:localhost.
const (
	bridgeASToken = "as-token-of-the-bridge"
	bridgeHSToken = "hs-token-of-the-bridge"
)

// startWithAppservice starts a server with the bridge registered at url
// ("null" for none) plus extra registration lines; other holds a second
// appservice's registration when not empty.
func startWithAppservice(t *testing.T, db *sqldb.DB, url, extra string, hsYAML ...string) *servertest.Server {
	t.Helper()
	dir := t.TempDir()
	reg := fmt.Sprintf(`id: bridge
url: %s
as_token: %s
hs_token: %s
sender_localpart: _irc_bot
namespaces:
  users: [{exclusive: true, regex: '@_irc_.*:localhost'}]
  aliases: [{exclusive: true, regex: '#_irc_.*'}]
  rooms: []
protocols: [irc]
%s`, url, bridgeASToken, bridgeHSToken, extra)
	if err := os.WriteFile(filepath.Join(dir, "bridge.yaml"), []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	other := "id: other\nurl: null\nas_token: other-as\nhs_token: other-hs\nsender_localpart: otherbot\n" +
		"namespaces: {users: [{exclusive: true, regex: '@_other_.*'}]}\n"
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	return servertest.StartIn(t, dir, db, servertest.Options{ExtraYAML: "app_service_config_files: [bridge.yaml, other.yaml]\n" + strings.Join(hsYAML, "")})
}

// asClient is a client authenticating with the bridge's as_token.
func asClient(s *servertest.Server, token string) *servertest.Client {
	c := s.Anonymous()
	c.AccessToken = token
	return c
}

// registerPuppet registers a namespace user the appservice way.
func registerPuppet(t *testing.T, as *servertest.Client, localpart string) {
	t.Helper()
	as.MustDo("POST", "/_matrix/client/v3/register", map[string]any{
		"type": "m.login.application_service", "username": localpart, "inhibit_login": true}, nil)
}

func whoami(c *servertest.Client, query string) (int, map[string]any, []byte) {
	var out map[string]any
	status, raw := c.Do("GET", "/_matrix/client/v3/account/whoami"+query, nil, &out)
	return status, out, raw
}

// application-service-api.md, "Identity assertion": the as_token acts as
// the sender, or as a user of the namespace named by user_id, or as a
// device of that user named by device_id.
func TestAppservice_IdentityAssertion(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)

		status, out, raw := whoami(as, "")
		if status != 200 || out["user_id"] != "@_irc_bot:localhost" || out["device_id"] != nil {
			t.Fatalf("as the sender: %d %s", status, raw)
		}
		// The token in the query string works too.
		anon := s.Anonymous()
		if status, out, raw := whoami(anon, "?access_token="+bridgeASToken); status != 200 || out["user_id"] != "@_irc_bot:localhost" {
			t.Errorf("as_token in the query: %d %s", status, raw)
		}

		registerPuppet(t, as, "_irc_alice")
		if status, out, raw := whoami(as, "?user_id=@_irc_alice:localhost"); status != 200 || out["user_id"] != "@_irc_alice:localhost" {
			t.Errorf("masquerading as a namespace user: %d %s", status, raw)
		}
		// Outside the namespace: refused, even for a user who exists.
		s.Register("carol")
		if status, _, raw := whoami(as, "?user_id=@carol:localhost"); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("masquerading outside the namespace: %d %s", status, raw)
		}
		// In the namespace but never registered: refused, as Synapse does.
		if status, _, raw := whoami(as, "?user_id=@_irc_nobody:localhost"); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("masquerading as an unregistered user: %d %s", status, raw)
		}
		// Another appservice's token cannot act in this one's namespace.
		if status, _, raw := whoami(asClient(s, "other-as"), "?user_id=@_irc_alice:localhost"); status != 403 {
			t.Errorf("another appservice masquerading: %d %s", status, raw)
		}

		// device_id: a device of the user (spec v1.17), made here by an
		// appservice login.
		var login struct {
			DeviceID string `json:"device_id"`
		}
		as.MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.application_service",
			"identifier": map[string]any{"type": "m.id.user", "user": "_irc_alice"}, "device_id": "BRIDGEDEV"}, &login)
		status, out, raw = whoami(as, "?user_id=@_irc_alice:localhost&device_id=BRIDGEDEV")
		if status != 200 || out["device_id"] != "BRIDGEDEV" {
			t.Errorf("device masquerading: %d %s", status, raw)
		}
		if status, out, raw := whoami(as, "?user_id=@_irc_alice:localhost&org.matrix.msc3202.device_id=BRIDGEDEV"); status != 200 || out["device_id"] != "BRIDGEDEV" {
			t.Errorf("device masquerading under MSC3202's name: %d %s", status, raw)
		}
		if status, _, raw := whoami(as, "?user_id=@_irc_alice:localhost&device_id=NOSUCH"); status != 400 || servertest.Errcode(raw) != "M_UNKNOWN_DEVICE" {
			t.Errorf("an unknown device: %d %s", status, raw)
		}
		// user_id means nothing with an ordinary access token.
		carol := s.Register("carol2")
		if status, out, _ := whoami(carol, "?user_id=@_irc_alice:localhost"); status != 200 || out["user_id"] != carol.UserID {
			t.Errorf("user_id with a user's token: %v", out)
		}
		// The sender exists as an account: it can create a room.
		as.CreateRoom(map[string]any{})
	})
}

// application-service-api.md, "Server admin style permissions": an
// appservice registers its users without user-interactive auth; nobody
// else may take a user ID of an exclusive namespace (M_EXCLUSIVE), and an
// appservice may not register outside its own.
func TestAppservice_RegistrationAndExclusiveUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		reg := func(c *servertest.Client, body map[string]any) (int, []byte) {
			return c.Do("POST", "/_matrix/client/v3/register", body, nil)
		}

		// Without inhibit_login the appservice gets a session for the user.
		var res struct {
			UserID      string `json:"user_id"`
			AccessToken string `json:"access_token"`
		}
		as.MustDo("POST", "/_matrix/client/v3/register", map[string]any{"type": "m.login.application_service", "username": "_irc_bob"}, &res)
		if res.UserID != "@_irc_bob:localhost" || res.AccessToken == "" {
			t.Errorf("registered %+v", res)
		}
		var inhibited map[string]any
		as.MustDo("POST", "/_matrix/client/v3/register", map[string]any{"type": "m.login.application_service", "username": "_irc_dan", "inhibit_login": true}, &inhibited)
		if inhibited["access_token"] != nil || inhibited["user_id"] != "@_irc_dan:localhost" {
			t.Errorf("inhibit_login: %v", inhibited)
		}
		if status, raw := reg(as, map[string]any{"type": "m.login.application_service", "username": "_irc_bob"}); status != 400 || servertest.Errcode(raw) != "M_USER_IN_USE" {
			t.Errorf("a taken ID: %d %s", status, raw)
		}
		if status, raw := reg(as, map[string]any{"type": "m.login.application_service", "username": "eve"}); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("outside the namespace: %d %s", status, raw)
		}
		if status, raw := reg(asClient(s, "other-as"), map[string]any{"type": "m.login.application_service", "username": "_irc_x"}); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("in another appservice's namespace: %d %s", status, raw)
		}
		if status, raw := reg(s.Anonymous(), map[string]any{"type": "m.login.application_service", "username": "_irc_x"}); status != 401 || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
			t.Errorf("without a token: %d %s", status, raw)
		}
		user := s.Register("frank")
		if status, raw := reg(user, map[string]any{"type": "m.login.application_service", "username": "_irc_x"}); status != 401 || servertest.Errcode(raw) != "M_UNKNOWN_TOKEN" {
			t.Errorf("with a user's token: %d %s", status, raw)
		}

		// Everyone else: refused before user-interactive auth, and by
		// /register/available.
		anon := s.Anonymous()
		if status, raw := reg(anon, map[string]any{"username": "_irc_mallory", "password": "correct horse battery staple",
			"auth": map[string]any{"type": "m.login.dummy"}}); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("a human in an exclusive namespace: %d %s", status, raw)
		}
		if status, raw := anon.Do("GET", "/_matrix/client/v3/register/available?username=_irc_mallory", nil, nil); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("/register/available: %d %s", status, raw)
		}
		if status, raw := anon.Do("GET", "/_matrix/client/v3/register/available?username=_irc_bot", nil, nil); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("the sender's ID: %d %s", status, raw)
		}
	})
}

// client-server-api "Appservice Login".
func TestAppservice_Login(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		var flows struct {
			Flows []struct {
				Type string `json:"type"`
			} `json:"flows"`
		}
		s.Anonymous().MustDo("GET", "/_matrix/client/v3/login", nil, &flows)
		found := false
		for _, f := range flows.Flows {
			found = found || f.Type == "m.login.application_service"
		}
		if !found {
			t.Errorf("GET /login does not offer m.login.application_service: %+v", flows)
		}

		registerPuppet(t, as, "_irc_gina")
		login := func(c *servertest.Client, user string) (int, map[string]any, []byte) {
			var out map[string]any
			status, raw := c.Do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.application_service",
				"identifier": map[string]any{"type": "m.id.user", "user": user}}, &out)
			return status, out, raw
		}
		status, out, raw := login(as, "@_irc_gina:localhost")
		if status != 200 || out["user_id"] != "@_irc_gina:localhost" {
			t.Fatalf("login: %d %s", status, raw)
		}
		tok, _ := out["access_token"].(string)
		if status, me, raw := whoami(asClient(s, tok), ""); status != 200 || me["user_id"] != "@_irc_gina:localhost" {
			t.Errorf("the new token: %d %s", status, raw)
		}
		s.Register("henry")
		if status, _, raw := login(as, "henry"); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("outside the namespace: %d %s", status, raw)
		}
		if status, _, raw := login(as, "_irc_unregistered"); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("an unregistered user: %d %s", status, raw)
		}
		if status, _, raw := login(s.Anonymous(), "_irc_gina"); status != 401 || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
			t.Errorf("without a token: %d %s", status, raw)
		}
	})
}

// fakeAppservice is an appservice on loopback: it records every request
// but transactions and answers with answer (200 {} when nil).
type fakeAppservice struct {
	*httptest.Server
	mu     sync.Mutex
	answer func(r *http.Request) (int, string)
	got    chan appserviceRequest
}

type appserviceRequest struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

func newFakeAppservice(t *testing.T) *fakeAppservice {
	f := &fakeAppservice{got: make(chan appserviceRequest, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
			// Transactions are the transaction sender's to test: accept
			// them, and keep them out of what these tests look at.
			_, _ = w.Write([]byte("{}"))
			return
		}
		f.got <- appserviceRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), body}
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		code, out := http.StatusOK, "{}"
		if answer != nil {
			code, out = answer(r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(out))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAppservice) setAnswer(a func(r *http.Request) (int, string)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

// client-server-api appservice_ping.yaml and application-service-api.md
// "Pinging".
func TestAppservice_Ping(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fake := newFakeAppservice(t)
		s := startWithAppservice(t, db, fake.URL, "")
		as := asClient(s, bridgeASToken)
		const path = "/_matrix/client/v1/appservice/bridge/ping"

		var ok struct {
			DurationMS *int64 `json:"duration_ms"`
		}
		as.MustDo("POST", path, map[string]any{"transaction_id": "meow"}, &ok)
		if ok.DurationMS == nil || *ok.DurationMS < 0 {
			t.Errorf("duration_ms missing: %+v", ok)
		}
		got := <-fake.got
		if got.Method != "POST" || got.Path != "/_matrix/app/v1/ping" || got.Auth != "Bearer "+bridgeHSToken || string(got.Body) != `{"transaction_id":"meow"}` {
			t.Errorf("the appservice got %+v %s", got, got.Body)
		}

		if status, raw := asClient(s, "other-as").Do("POST", path, map[string]any{}, nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("another appservice's token: %d %s", status, raw)
		}
		if status, raw := s.Register("ivan").Do("POST", path, map[string]any{}, nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("a user's token: %d %s", status, raw)
		}
		if status, raw := asClient(s, "other-as").Do("POST", "/_matrix/client/v1/appservice/other/ping", map[string]any{}, nil); status != 400 || servertest.Errcode(raw) != "M_URL_NOT_SET" {
			t.Errorf("url null: %d %s", status, raw)
		}

		fake.setAnswer(func(*http.Request) (int, string) { return 403, `{"errcode":"M_FORBIDDEN"}` })
		var bad struct {
			Errcode string `json:"errcode"`
			Status  int    `json:"status"`
			Body    string `json:"body"`
		}
		status, raw := as.Do("POST", path, map[string]any{}, nil)
		_ = json.Unmarshal(raw, &bad)
		if status != 502 || bad.Errcode != "M_BAD_STATUS" || bad.Status != 403 || bad.Body != `{"errcode":"M_FORBIDDEN"}` {
			t.Errorf("a refusing appservice: %d %s", status, raw)
		}

		fake.Close()
		if status, raw := as.Do("POST", path, map[string]any{}, nil); status != 502 || servertest.Errcode(raw) != "M_CONNECTION_FAILED" {
			t.Errorf("an appservice that is down: %d %s", status, raw)
		}
	})
}

// application-service-api.md, "Querying": an unknown alias or user of an
// appservice's namespace is asked of the appservice, which creates it
// before answering; the lookup then finds it.
func TestAppservice_QueriesUnknownAliasesAndUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fake := newFakeAppservice(t)
		s := startWithAppservice(t, db, fake.URL, "")
		as := asClient(s, bridgeASToken)
		fake.setAnswer(func(r *http.Request) (int, string) {
			switch {
			case r.URL.Path == "/_matrix/app/v1/rooms/#_irc_known:localhost":
				var room struct {
					RoomID string `json:"room_id"`
				}
				as.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "_irc_known", "preset": "public_chat"}, &room)
				return 200, "{}"
			case r.URL.Path == "/_matrix/app/v1/users/@_irc_newcomer:localhost":
				as.Do("POST", "/_matrix/client/v3/register", map[string]any{"type": "m.login.application_service", "username": "_irc_newcomer", "inhibit_login": true}, nil)
				return 200, "{}"
			}
			return 404, `{"errcode":"M_NOT_FOUND"}`
		})
		user := s.Register("judy")

		var dir struct {
			RoomID string `json:"room_id"`
		}
		user.MustDo("GET", "/_matrix/client/v3/directory/room/%23_irc_known:localhost", nil, &dir)
		if dir.RoomID == "" {
			t.Fatal("no room for the alias the appservice made")
		}
		if got := <-fake.got; got.Path != "/_matrix/app/v1/rooms/#_irc_known:localhost" || got.Auth != "Bearer "+bridgeHSToken {
			t.Errorf("the appservice got %+v", got)
		}
		// Known now: the appservice is not asked again.
		user.MustDo("GET", "/_matrix/client/v3/directory/room/%23_irc_known:localhost", nil, nil)
		user.MustDo("POST", "/_matrix/client/v3/join/%23_irc_known:localhost", map[string]any{}, nil)

		if status, raw := user.Do("GET", "/_matrix/client/v3/directory/room/%23_irc_unknown:localhost", nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("an alias the appservice does not know: %d %s", status, raw)
		}
		<-fake.got
		// Outside every namespace: nobody is asked.
		if status, _ := user.Do("GET", "/_matrix/client/v3/directory/room/%23plain:localhost", nil, nil); status != 404 {
			t.Errorf("a plain unknown alias: %d", status)
		}

		var prof map[string]any
		user.MustDo("GET", "/_matrix/client/v3/profile/@_irc_newcomer:localhost", nil, &prof)
		if prof["displayname"] != "_irc_newcomer" {
			t.Errorf("the profile of the user the appservice made: %v", prof)
		}
		<-fake.got
		if status, raw := user.Do("GET", "/_matrix/client/v3/profile/@_irc_ghost:localhost", nil, nil); status != 404 {
			t.Errorf("a user the appservice does not know: %d %s", status, raw)
		}
		if got := <-fake.got; got.Path != "/_matrix/app/v1/users/@_irc_ghost:localhost" {
			t.Errorf("the appservice got %+v", got)
		}
		select {
		case got := <-fake.got:
			t.Errorf("unexpected request to the appservice: %+v", got)
		default:
		}
	})
}

// Exclusive alias namespaces belong to their appservice alone
// (application-service-api.md, "Server admin style permissions").
func TestAppservice_ExclusiveAliases(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		user := s.Register("kim")
		room := user.CreateRoom(map[string]any{})

		put := func(c *servertest.Client, alias string) (int, []byte) {
			return c.Do("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape(alias), map[string]any{"room_id": room}, nil)
		}
		if status, raw := put(user, "#_irc_taken:localhost"); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("a user's alias in the namespace: %d %s", status, raw)
		}
		if status, raw := user.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": "_irc_mine"}, nil); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("createRoom with an alias in the namespace: %d %s", status, raw)
		}
		// The appservice may alias the room without being in it, and only
		// inside its namespace.
		if status, raw := put(as, "#_irc_taken:localhost"); status != 200 {
			t.Errorf("the appservice's alias: %d %s", status, raw)
		}
		if status, raw := put(as, "#elsewhere:localhost"); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("the appservice's alias outside its namespace: %d %s", status, raw)
		}
		if status, raw := user.Do("DELETE", "/_matrix/client/v3/directory/room/"+url.PathEscape("#_irc_taken:localhost"), nil, nil); status != 400 || servertest.Errcode(raw) != "M_EXCLUSIVE" {
			t.Errorf("a user deleting the appservice's alias: %d %s", status, raw)
		}
		as.MustDo("DELETE", "/_matrix/client/v3/directory/room/"+url.PathEscape("#_irc_taken:localhost"), nil, nil)
	})
}

// client-server-api "Third-party networks": lookups are answered by the
// appservices that declared the protocol.
func TestAppservice_ThirdPartyLookups(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fake := newFakeAppservice(t)
		s := startWithAppservice(t, db, fake.URL, "")
		fake.setAnswer(func(r *http.Request) (int, string) {
			switch r.URL.Path {
			case "/_matrix/app/v1/thirdparty/protocol/irc":
				return 200, `{"user_fields":["network","nickname"],"location_fields":["network","channel"],"icon":"mxc://x/y",
					"field_types":{},"instances":[{"desc":"Freenode","fields":{},"network_id":"freenode"}]}`
			case "/_matrix/app/v1/thirdparty/location/irc":
				return 200, `[{"alias":"#freenode_#matrix:localhost","protocol":"irc","fields":{"channel":"` + r.URL.Query().Get("channel") + `"}}]`
			case "/_matrix/app/v1/thirdparty/user":
				return 200, `[{"userid":"` + r.URL.Query().Get("userid") + `","protocol":"irc","fields":{"nickname":"bob"}}]`
			}
			return 404, `{}`
		})
		user := s.Register("lee")

		var protocols map[string]struct {
			Instances []struct {
				InstanceID string `json:"instance_id"`
				NetworkID  string `json:"network_id"`
			} `json:"instances"`
			UserFields []string `json:"user_fields"`
		}
		user.MustDo("GET", "/_matrix/client/v3/thirdparty/protocols", nil, &protocols)
		irc, ok := protocols["irc"]
		if !ok || len(irc.Instances) != 1 || irc.Instances[0].InstanceID != "bridge|freenode" || len(irc.UserFields) != 2 {
			t.Errorf("protocols: %+v", protocols)
		}
		user.MustDo("GET", "/_matrix/client/v3/thirdparty/protocol/irc", nil, nil)
		if status, raw := user.Do("GET", "/_matrix/client/v3/thirdparty/protocol/slack", nil, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("an unknown protocol: %d %s", status, raw)
		}
		var locs []map[string]any
		user.MustDo("GET", "/_matrix/client/v3/thirdparty/location/irc?channel=%23matrix", nil, &locs)
		if len(locs) != 1 || locs[0]["fields"].(map[string]any)["channel"] != "#matrix" {
			t.Errorf("locations: %v", locs)
		}
		var users []map[string]any
		user.MustDo("GET", "/_matrix/client/v3/thirdparty/user?userid=@_irc_bob:localhost", nil, &users)
		if len(users) != 1 || users[0]["userid"] != "@_irc_bob:localhost" {
			t.Errorf("users: %v", users)
		}
		if status, _ := s.Anonymous().Do("GET", "/_matrix/client/v3/thirdparty/protocols", nil, nil); status != 401 {
			t.Errorf("without a token: %d", status)
		}
	})
}

// Without an appservice declaring protocols the list is an empty object.
func TestAppservice_NoProtocolsIsEmptyObject(t *testing.T) {
	s := servertest.Start(t, storagetest.NewSQLite(t), servertest.Options{})
	raw := s.Register("mo").MustDo("GET", "/_matrix/client/v3/thirdparty/protocols", nil, nil)
	if strings.TrimSpace(string(raw)) != "{}" {
		t.Errorf("got %s", raw)
	}
}

// The registration's rate_limited: "Whether requests from masqueraded
// users are rate-limited. The sender is excluded."
func TestAppservice_RateLimited(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		const strict = "rc_message: {per_second: 0.001, burst_count: 1}\n"
		send := func(s *servertest.Server, asUser string, n int) (limited bool) {
			as := asClient(s, bridgeASToken)
			room := as.CreateRoom(map[string]any{"preset": "public_chat"})
			q := ""
			if asUser != "" {
				registerPuppet(t, as, asUser)
				q = "?user_id=@" + asUser + ":localhost"
				as.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room)+q, map[string]any{}, nil)
			}
			for i := range n {
				status, _ := as.Do("PUT", servertest.Room(room)+"/send/m.room.message/t"+fmt.Sprint(i)+q, map[string]any{"msgtype": "m.text", "body": "hi"}, nil)
				if status == 429 {
					return true
				}
			}
			return false
		}
		s := startWithAppservice(t, db, "null", "", strict)
		if send(s, "", 3) {
			t.Error("the sender was rate limited")
		}
		if !send(s, "_irc_puppet", 3) {
			t.Error("a puppet of a rate_limited appservice was not rate limited")
		}
		s.Stop()
		s2 := startWithAppservice(t, db, "null", "rate_limited: false\n", strict)
		if send(s2, "_irc_puppet2", 3) {
			t.Error("a puppet of an appservice with rate_limited: false was rate limited")
		}
	})
}
