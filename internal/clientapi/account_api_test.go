package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/users"
)

// The tests in the account_*, register, login, device, profile, versions
// and admin_register test files drive a real HTTP server on loopback, on
// every storage backend, the way a client would.

const testServer = "example.org"

// testClock is a settable clock shared with the server goroutines.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hookLog records hook calls.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (h *hookLog) add(s string) {
	h.mu.Lock()
	h.calls = append(h.calls, s)
	h.mu.Unlock()
}

func (h *hookLog) has(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.calls {
		if c == s {
			return true
		}
	}
	return false
}

func (h *hookLog) hasPrefix(p string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.calls {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

func (h *hookLog) OnDeactivate(ctx context.Context, userID string) error {
	h.add("deactivate " + userID)
	return nil
}

func (h *hookLog) OnProfileChange(ctx context.Context, userID string) error {
	h.add("profile " + userID)
	return nil
}

func (h *hookLog) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	h.add("devices deleted " + userID + " " + strings.Join(deviceIDs, ","))
	return nil
}

func (h *hookLog) OnDeviceUpdated(ctx context.Context, userID, deviceID string) error {
	h.add("device updated " + userID + " " + deviceID)
	return nil
}

// rig is a running server with the AccountAPI.
type rig struct {
	t     *testing.T
	srv   *httptest.Server
	api   *AccountAPI
	svc   *users.Service
	store accounts.Store
	clock *testClock
	hooks *hookLog
}

// testOptions are the defaults of the rig: open registration, cheap
// bcrypt, rate limits off. Tests adjust them with mods.
type testOptions struct {
	users   users.Options
	account AccountOptions
}

func newRig(t *testing.T, db *sqldb.DB, mods ...func(*testOptions)) *rig {
	t.Helper()
	ctx := context.Background()
	store, err := accounts.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	o := testOptions{
		users: users.Options{
			ServerName: testServer, BcryptCost: 4, PasswordLogin: true, PasswordReauth: true,
			RefreshableAccessTokenLifetime: 5 * time.Minute, Now: clock.Now,
		},
		account: AccountOptions{
			PublicBaseURL: "https://matrix.example.org/", EnableRegistration: true,
			RegistrationWithoutVerification: true, Now: clock.Now,
		},
	}
	for _, m := range mods {
		m(&o)
	}
	svc, err := users.New(store, o.users)
	if err != nil {
		t.Fatal(err)
	}
	hooks := &hookLog{}
	svc.SetHooks(users.Hooks{Deactivate: hooks, Profile: hooks, Devices: hooks})
	api := NewAccountAPI(svc, o.account)
	router := httpapi.NewRouter(httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	api.Register(router)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	return &rig{t: t, srv: srv, api: api, svc: svc, store: store, clock: clock, hooks: hooks}
}

// withLimits turns on one rate limit, on the rig's clock.
func withLimits(a ratelimit.Action, l ratelimit.Limit) func(*testOptions) {
	return func(o *testOptions) {
		o.account.Limits = ratelimit.New(map[ratelimit.Action]ratelimit.Limit{a: l}, o.account.Now)
	}
}

// forEachBackend runs fn on a fresh rig per storage backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, r *rig), mods ...func(*testOptions)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, newRig(t, db, mods...))
	})
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	body   map[string]any
}

func (r resp) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

func (r resp) errcode() string { return r.str("errcode") }

// do sends a request; body is marshalled unless it is a string or nil.
func (r *rig) do(method, path, token string, body any) resp {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "myelin-test")
	res, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			r.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
		}
	}
	return out
}

// expect fails the test unless the response has the status and errcode.
func (r *rig) expect(got resp, status int, errcode string) {
	r.t.Helper()
	if got.status != status || got.errcode() != errcode {
		r.t.Fatalf("got %d %v, want %d %s", got.status, got.body, status, errcode)
	}
}

// register creates a user through open registration and returns its token.
func (r *rig) register(username, password string, extra map[string]any) resp {
	r.t.Helper()
	body := map[string]any{"username": username, "password": password, "auth": map[string]any{"type": "m.login.dummy"}}
	for k, v := range extra {
		body[k] = v
	}
	got := r.do("POST", "/_matrix/client/v3/register", "", body)
	if got.status != 200 {
		r.t.Fatalf("register %s: %d %v", username, got.status, got.body)
	}
	return got
}

// login logs in with a password and returns the response.
func (r *rig) login(user, password string, extra map[string]any) resp {
	r.t.Helper()
	body := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	for k, v := range extra {
		body[k] = v
	}
	return r.do("POST", "/_matrix/client/v3/login", "", body)
}

// mustLogin is login that must succeed; it returns the access token.
func (r *rig) mustLogin(user, password string, extra map[string]any) string {
	r.t.Helper()
	got := r.login(user, password, extra)
	if got.status != 200 {
		r.t.Fatalf("login %s: %d %v", user, got.status, got.body)
	}
	return got.str("access_token")
}

// whoami returns the response of GET /account/whoami with token.
func (r *rig) whoami(token string) resp {
	r.t.Helper()
	return r.do("GET", "/_matrix/client/v3/account/whoami", token, nil)
}

// tokenRevoked checks that token no longer authenticates, and how.
func (r *rig) tokenRevoked(token string, soft bool) {
	r.t.Helper()
	got := r.whoami(token)
	r.expect(got, 401, "M_UNKNOWN_TOKEN")
	if got.body["soft_logout"] != soft {
		r.t.Fatalf("soft_logout = %v, want %v", got.body["soft_logout"], soft)
	}
}

// passwordAuth is an m.login.password auth dict for user.
func passwordAuth(user, password, session string) map[string]any {
	a := map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password}
	if session != "" {
		a["session"] = session
	}
	return a
}

func TestAccountOptionsFromConfig(t *testing.T) {
	cfg := &config.Config{PublicBaseURL: "https://m.example.org/", EnableRegistration: true, AllowGuestAccess: true}
	o := AccountOptionsFromConfig(cfg)
	if o.PublicBaseURL != cfg.PublicBaseURL || !o.EnableRegistration || !o.AllowGuestAccess {
		t.Errorf("options = %+v", o)
	}
}
