package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/federation/fedauth"
	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// homeserver is one in-process server of the loopback federation: an
// HTTPS listener on its own 127.0.0.x address with a certificate from the
// test CA, serving the key API and two endpoints behind
// RequireServerAuth.
type homeserver struct {
	name string
	ip   string
	key  signing.SigningKey
	srv  *fedtest.Server
	tr   *Transport
	db   *sqldb.DB

	handler  atomic.Pointer[http.Handler]
	mu       sync.Mutex
	keyHits  int // GET /_matrix/key/v2/server
	notaryQs int // POST /_matrix/key/v2/query
}

type fed struct {
	t   *testing.T
	ca  *fedtest.CA
	dns *fedtest.DNS
}

func (f *fed) start(host, ip string, seed byte, notaries []config.TrustedKeyServer) *homeserver {
	t := f.t
	t.Helper()
	hs := &homeserver{ip: ip}
	hs.srv = fedtest.Serve(t, ip, f.ca.Issue(t, host), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		switch {
		case r.Method == "GET" && r.URL.Path == "/_matrix/key/v2/server":
			hs.keyHits++
		case r.Method == "POST" && r.URL.Path == "/_matrix/key/v2/query":
			hs.notaryQs++
		}
		hs.mu.Unlock()
		(*hs.handler.Load()).ServeHTTP(w, r)
	}))
	hs.name = host + ":" + hs.srv.Port
	f.dns.SetIP(host, ip)
	k, err := signing.NewSigningKey("k"+string(rune('a'+seed)), bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	hs.key = k
	hs.db = storagetest.NewSQLite(t)
	hs.boot(f, notaries)
	return hs
}

// boot builds the transport on hs's database (again, for a restart).
func (hs *homeserver) boot(f *fed, notaries []config.TrustedKeyServer) {
	t := f.t
	cfg := &config.Config{
		ServerName:                   hs.name,
		KeyRefreshInterval:           24 * time.Hour,
		TrustedKeyServers:            notaries,
		FederationVerifyCertificates: true,
		FederationCustomCAList:       []string{f.ca.PEMPath},
		// The default blocklist covers loopback; a LAN federation test
		// opens 127.0.0.0/8 as ip_range_whitelist.
		IPRangeWhitelist: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}
	tr, err := New(context.Background(), Options{Config: cfg, Key: hs.key, DB: hs.db, DNS: f.dns, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	hs.tr = tr
	router := httpapi.NewRouter(httpapi.Options{})
	tr.RegisterPublic(router)
	router.Handle("GET /_matrix/federation/v1/echo", tr.Auth.Require(func(w http.ResponseWriter, r *http.Request, origin string) {
		httpapi.WriteJSON(w, 200, map[string]any{"origin": origin, "uri": r.RequestURI})
	}))
	router.Handle("PUT /_matrix/federation/v1/echo/{id}", tr.Auth.RequireServerAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := httpapi.ReadJSON(r, 0, &body); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		httpapi.WriteJSON(w, 200, map[string]any{"origin": fedauth.Origin(r.Context()), "id": r.PathValue("id"), "body": body})
	})))
	var h http.Handler = router
	hs.handler.Store(&h)
}

func (hs *homeserver) counts() (keyHits, notaryQs int) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.keyHits, hs.notaryQs
}

// TestLoopbackFederation: three servers on 127.0.0.2, .3 and .4 with
// certificates from a CA made for the test, trusted through
// federation_custom_ca_list, with 127.0.0.0/8 whitelisted. hs2 trusts hs3
// as its notary (keys pinned); hs1 has no notary. Each signs requests
// through the real client and verifies the other's with RequireServerAuth,
// fetching keys as needed: hs2 through hs3's notary API, hs1 directly.
func TestLoopbackFederation(t *testing.T) {
	f := &fed{t: t, ca: fedtest.NewCA(t), dns: fedtest.NewDNS()}
	hs3 := f.start("hs3.test", "127.0.0.4", 3, []config.TrustedKeyServer{})
	hs1 := f.start("hs1.test", "127.0.0.2", 1, []config.TrustedKeyServer{})
	notary := []config.TrustedKeyServer{{ServerName: hs3.name, VerifyKeys: map[string]ed25519.PublicKey{string(hs3.key.ID): hs3.key.Public()}}}
	hs2 := f.start("hs2.test", "127.0.0.3", 2, notary)
	ctx := context.Background()

	// hs1 → hs2: hs2 learns hs1's key through hs3.
	var echo struct{ Origin, URI string }
	path := "/_matrix/federation/v1/echo?user_id=%40a%3Ahs1.test&x=1"
	if err := hs1.tr.Client.Get(ctx, hs2.name, path, &echo); err != nil {
		t.Fatalf("hs1 → hs2: %v", err)
	}
	if echo.Origin != hs1.name || echo.URI != path {
		t.Fatalf("hs2 saw origin %q uri %q", echo.Origin, echo.URI)
	}
	if _, q := hs3.counts(); q != 1 {
		t.Fatalf("hs3 answered %d notary queries, want 1", q)
	}
	stored, err := hs2.tr.KeyStore.Keys(ctx, hs1.name)
	if err != nil || len(stored) != 1 || stored[0].FromServer != hs3.name || !stored[0].PublicKey.Equal(hs1.key.Public()) {
		t.Fatalf("hs2 stored %+v, %v", stored, err)
	}

	// hs2 → hs1 with a body: hs1 fetches hs2's key directly.
	var put struct {
		Origin, ID string
		Body       map[string]any
	}
	if err := hs2.tr.Client.Put(ctx, hs1.name, "/_matrix/federation/v1/echo/txn1", map[string]any{"pdus": []any{}, "n": 1}, &put); err != nil {
		t.Fatalf("hs2 → hs1: %v", err)
	}
	if put.Origin != hs2.name || put.ID != "txn1" || put.Body["n"] != float64(1) {
		t.Fatalf("hs1 saw %+v", put)
	}
	if hits, _ := hs2.counts(); hits != 1 {
		t.Fatalf("hs2's keys were fetched %d times, want once (directly by hs1)", hits)
	}

	// The notary API over TLS: hs1 asks hs3 about hs2; the answer is
	// signed by both hs2 and hs3.
	var q struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := hs1.tr.Client.Post(ctx, hs3.name, "/_matrix/key/v2/query",
		map[string]any{"server_keys": map[string]any{hs2.name: map[string]any{}}}, &q); err != nil {
		t.Fatalf("notary query: %v", err)
	}
	if len(q.ServerKeys) != 1 ||
		signing.VerifyJSON(q.ServerKeys[0], hs2.name, hs2.key.ID, hs2.key.Public()) != nil ||
		signing.VerifyJSON(q.ServerKeys[0], hs3.name, hs3.key.ID, hs3.key.Public()) != nil {
		t.Fatalf("notary answer: %s", q.ServerKeys)
	}

	// Unsigned and wrongly signed requests get 401 M_UNAUTHORIZED.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool, ServerName: "hs2.test"}}}
	defer plain.CloseIdleConnections()
	resp, err := plain.Get("https://" + hs2.srv.Addr + "/_matrix/federation/v1/echo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "M_UNAUTHORIZED") {
		t.Fatalf("unsigned request: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", "https://"+hs2.srv.Addr+"/_matrix/federation/v1/echo", nil)
	req.Header.Set("Authorization", `X-Matrix origin="`+hs1.name+`",destination="`+hs2.name+`",key="`+string(hs1.key.ID)+`",sig="AAAA"`)
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("forged signature: %d", resp.StatusCode)
	}

	// hs2 restarts with hs3 gone: hs1's key comes from hs2's database,
	// so a new request needs no fetch at all.
	hs3.srv.Close()
	hs2.boot(f, notary)
	before, _ := hs1.counts()
	if err := hs1.tr.Client.Get(ctx, hs2.name, "/_matrix/federation/v1/echo", &echo); err != nil {
		t.Fatalf("hs1 → hs2 after hs2 restarted: %v", err)
	}
	if after, _ := hs1.counts(); after != before {
		t.Fatal("hs2 fetched hs1's keys again after a restart")
	}

	// The version endpoint needs no authentication.
	var v struct {
		Server struct{ Name, Version string }
	}
	if err := hs1.tr.Client.Get(ctx, hs2.name, "/_matrix/federation/v1/version", &v); err != nil || v.Server.Name != "Myelin" {
		t.Fatalf("version: %+v, %v", v, err)
	}
	if err := hs1.tr.Client.Get(ctx, hs2.name, "/_matrix/federation/v1/nope", nil); fedclient.StatusOf(err) != 404 {
		t.Fatalf("unknown endpoint: %v", err)
	}
}

// TestNew_RefusesUnpinnedNotaryWithoutTLSChecks: as Synapse does, a
// trusted key server without verify_keys is refused when certificates are
// not verified, unless accept_keys_insecurely is set.
func TestNew_RefusesUnpinnedNotaryWithoutTLSChecks(t *testing.T) {
	k, _ := signing.NewSigningKey("k", bytes.Repeat([]byte{1}, 32))
	cfg := &config.Config{ServerName: "us.test", TrustedKeyServers: []config.TrustedKeyServer{{ServerName: "matrix.org"}}}
	if _, err := New(context.Background(), Options{Config: cfg, Key: k, DB: storagetest.NewSQLite(t)}); err == nil {
		t.Fatal("accepted an unpinned notary with certificate verification off")
	}
	cfg.TrustedKeyServers[0].AcceptKeysInsecurely = true
	if _, err := New(context.Background(), Options{Config: cfg, Key: k, DB: storagetest.NewSQLite(t)}); err != nil {
		t.Fatalf("accept_keys_insecurely: %v", err)
	}
}
