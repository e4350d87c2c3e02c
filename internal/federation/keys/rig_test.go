package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// fakeNet is an in-memory federation: destinations map to handlers, and
// every request is recorded.
type fakeNet struct {
	mu       sync.Mutex
	handlers map[string]http.Handler
	calls    []string
}

func newFakeNet() *fakeNet { return &fakeNet{handlers: map[string]http.Handler{}} }

func (n *fakeNet) serve(name string, h http.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[name] = h
}

func (n *fakeNet) down(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.handlers, name)
}

// callsTo counts requests from origin to dest ("" matches any origin).
func (n *fakeNet) callsTo(origin, dest string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, s := range n.calls {
		var o, d string
		fmt.Sscanf(s, "%s %s", &o, &d)
		if (origin == "" || o == origin) && d == dest {
			c++
		}
	}
	return c
}

// fakeClient is the Client of one server on a fakeNet.
type fakeClient struct {
	net    *fakeNet
	origin string
}

func (c *fakeClient) Get(ctx context.Context, dest, path string, out any) error {
	return c.do(ctx, http.MethodGet, dest, path, nil, out)
}

func (c *fakeClient) Post(ctx context.Context, dest, path string, body, out any) error {
	return c.do(ctx, http.MethodPost, dest, path, body, out)
}

func (c *fakeClient) do(ctx context.Context, method, dest, path string, body, out any) error {
	c.net.mu.Lock()
	c.net.calls = append(c.net.calls, c.origin+" "+dest+" "+method+" "+path)
	h := c.net.handlers[dest]
	c.net.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%s: connection refused", dest)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", dest, rec.Code, rec.Body.String())
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) ms() int64 { return c.Now().UnixMilli() }

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func key(t testing.TB, version string, seed byte) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey(version, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// node is one server of the rig: publisher, key ring and handlers.
type node struct {
	name  string
	key   signing.SigningKey
	pub   *Publisher
	ring  *KeyRing
	store *keystore.Store
	mux   *http.ServeMux
}

type nodeOpts struct {
	keys     []signing.SigningKey
	old      map[signing.KeyID]signing.OldVerifyKey
	refresh  time.Duration
	notaries []Notary
	db       *sqldb.DB
}

// newNode builds a server named name on net and serves its key API there.
func newNode(t testing.TB, net *fakeNet, clock *fakeClock, name string, seed byte, o nodeOpts) *node {
	t.Helper()
	if o.keys == nil {
		o.keys = []signing.SigningKey{key(t, "k"+fmt.Sprint(seed), seed)}
	}
	pub, err := NewPublisher(PublisherConfig{ServerName: name, Keys: o.keys, OldKeys: o.old, RefreshInterval: o.refresh, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if o.db == nil {
		o.db = storagetest.NewSQLite(t)
	}
	store, err := keystore.New(context.Background(), o.db)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := New(Config{Publisher: pub, Store: store, Client: &fakeClient{net: net, origin: name}, Notaries: o.notaries, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Handlers{Ring: ring}).Register(mux)
	net.serve(name, mux)
	return &node{name: name, key: o.keys[0], pub: pub, ring: ring, store: store, mux: mux}
}

// serveDoc makes dest answer GET /_matrix/key/v2/server with doc.
func serveDoc(net *fakeNet, dest string, doc []byte) {
	net.serve(dest, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
}

func mustBuild(t testing.TB, server string, keys []signing.SigningKey, old map[signing.KeyID]signing.OldVerifyKey, validUntil int64) []byte {
	t.Helper()
	doc, err := signing.BuildServerKeys(server, keys, old, validUntil)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
