// Package servertest starts real Myelin servers for API tests: a generated
// configuration in a temporary directory, a real database (SQLite, or a
// fresh PostgreSQL database from storagetest), real HTTP on loopback, and a
// small client that speaks the Client-Server API.
package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"github.com/myelin-chat/myelin/internal/keyfile"
	"github.com/myelin-chat/myelin/internal/server"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Server is a running homeserver under test.
type Server struct {
	*server.Server
	URL  string
	HTTP *httptest.Server
	t    testing.TB
	stop sync.Once
}

// Options adjust the generated configuration.
type Options struct {
	// ExtraYAML is appended to the generated homeserver.yaml (later keys win).
	ExtraYAML string
}

// Start runs a server on the given database backend (the dialect of db;
// its PostgreSQL DSN is reused; for SQLite a fresh file is made).
func Start(t testing.TB, db *sqldb.DB, opts Options) *Server {
	t.Helper()
	return StartIn(t, t.TempDir(), db, opts)
}

// StartIn is Start with the configuration, keys and (for SQLite) database
// in dir, so that a test can Stop a server and start another on the same
// data: a restart.
func StartIn(t testing.TB, dir string, db *sqldb.DB, opts Options) *Server {
	t.Helper()
	return StartConfig(t, WriteConfig(t, dir, db, opts))
}

// StartConfig runs a server from a configuration WriteConfig wrote. Two
// servers started from one configuration are two processes of one
// homeserver sharing its database.
func StartConfig(t testing.TB, cfgPath string) *Server {
	t.Helper()
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("MYELIN_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	hs := httptest.NewServer(s.Client)
	ts := &Server{Server: s, URL: hs.URL, HTTP: hs, t: t}
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down; Start also arranges it at the test's end.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.HTTP.Close()
		s.Rooms.Close()
		s.Close()
	})
}

// As returns c's session on this server (c from a server that was stopped
// and started again on the same data).
func (s *Server) As(c *Client) *Client {
	return &Client{URL: s.URL, UserID: c.UserID, DeviceID: c.DeviceID, AccessToken: c.AccessToken, t: s.t}
}

// WriteConfig writes a homeserver.yaml (and signing key) into dir for a
// test server named "localhost" on db's backend, with open registration,
// no rate limits and cheap bcrypt.
func WriteConfig(t testing.TB, dir string, db *sqldb.DB, opts Options) string {
	t.Helper()
	data, err := config.Generate(config.GenerateOptions{ServerName: "localhost", ConfigDir: dir, DataDir: dir,
		OpenRegistration: true, ListenPort: 8008, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	extra := "\nbcrypt_rounds: 4\n" + NoRateLimitsYAML
	if db != nil && db.Dialect() == sqldb.Postgres {
		extra += fmt.Sprintf("database: {name: psycopg2, args: {dsn: %q}}\n", db.Config().PostgresDSN)
	}
	data = append(data, []byte(extra+opts.ExtraYAML)...)
	path := filepath.Join(dir, "homeserver.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := keyfile.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("generated config does not load: %v", err)
	}
	if _, err := os.Stat(cfg.SigningKeyPath); os.IsNotExist(err) {
		if err := keyfile.WriteNew(cfg.SigningKeyPath, key); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// NoRateLimitsYAML raises every rc_* limit out of the way of tests that
// are not about them (later keys in ExtraYAML win).
const NoRateLimitsYAML = `rc_message: {per_second: 10000, burst_count: 10000}
rc_registration: {per_second: 10000, burst_count: 10000}
rc_login: {address: {per_second: 10000, burst_count: 10000}, account: {per_second: 10000, burst_count: 10000}, failed_attempts: {per_second: 10000, burst_count: 10000}}
rc_room_creation: {per_second: 10000, burst_count: 10000}
rc_joins: {local: {per_second: 10000, burst_count: 10000}, remote: {per_second: 10000, burst_count: 10000}}
rc_joins_per_room: {per_second: 10000, burst_count: 10000}
rc_invites: {per_room: {per_second: 10000, burst_count: 10000}, per_user: {per_second: 10000, burst_count: 10000}, per_issuer: {per_second: 10000, burst_count: 10000}}
rc_reports: {per_second: 10000, burst_count: 10000}
rc_third_party_invite: {per_second: 10000, burst_count: 10000}
rc_federation: {window_size: 1000, sleep_limit: 10000, sleep_delay: 0, reject_limit: 10000, concurrent: 10000}
`

// Client is a logged-in (or anonymous) Matrix client.
type Client struct {
	URL         string
	UserID      string
	DeviceID    string
	AccessToken string
	t           testing.TB
}

// Anonymous returns a client without a token.
func (s *Server) Anonymous() *Client { return &Client{URL: s.URL, t: s.t} }

// Register creates a user through /register with the dummy auth flow and
// returns a logged-in client.
func (s *Server) Register(localpart string) *Client {
	s.t.Helper()
	c := s.Anonymous()
	body := map[string]any{"username": localpart, "password": "correct horse battery staple", "auth": map[string]any{"type": "m.login.dummy"}}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	status, raw := c.Do("POST", "/_matrix/client/v3/register", body, &resp)
	if status == http.StatusUnauthorized {
		// A UIA round trip: the server asked for a session first.
		var uia struct {
			Session string `json:"session"`
		}
		_ = json.Unmarshal(raw, &uia)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
		status, raw = c.Do("POST", "/_matrix/client/v3/register", body, &resp)
	}
	if status != http.StatusOK {
		s.t.Fatalf("register %s: %d %s", localpart, status, raw)
	}
	return &Client{URL: s.URL, UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken, t: s.t}
}

// Do sends a request with a JSON body (nil for none; []byte sent as is) and
// decodes a JSON answer into out when out is not nil. It returns the status
// and the raw body.
func (c *Client) Do(method, path string, body any, out any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw
}

// MustDo is Do that fails the test unless the status is 200.
func (c *Client) MustDo(method, path string, body any, out any) []byte {
	c.t.Helper()
	status, raw := c.Do(method, path, body, out)
	if status != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	return raw
}

// CreateRoom creates a room and returns its ID.
func (c *Client) CreateRoom(body map[string]any) string {
	c.t.Helper()
	var resp struct {
		RoomID string `json:"room_id"`
	}
	c.MustDo("POST", "/_matrix/client/v3/createRoom", body, &resp)
	return resp.RoomID
}

// SendText sends an m.text message and returns its event ID.
func (c *Client) SendText(roomID, text string) string {
	c.t.Helper()
	var resp struct {
		EventID string `json:"event_id"`
	}
	c.MustDo("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+randomTxn(),
		map[string]any{"msgtype": "m.text", "body": text}, &resp)
	return resp.EventID
}

// Errcode returns the errcode of an error body.
func Errcode(raw []byte) string {
	var e struct {
		Errcode string `json:"errcode"`
	}
	_ = json.Unmarshal(raw, &e)
	return e.Errcode
}

func randomTxn() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("t%x", b)
}

// Room returns the URL path prefix for a room.
func Room(roomID string) string { return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) }
