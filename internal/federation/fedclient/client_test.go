package fedclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/discovery"
	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/signing"
)

// These tests run real TLS servers on 127.0.0.0/8 addresses; the client
// finds them through a fake DNS, and the IP guard whitelists only the
// loopback addresses each test means to reach.

func signingKey(t *testing.T) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey("client", bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seen records what a test server received.
type seen struct {
	mu       sync.Mutex
	host     string
	uri      string
	body     []byte
	auth     string
	verified error
	count    int
}

// verifyingHandler answers 200 {"ok":true} and checks the X-Matrix
// signature as a receiving server would.
func verifyingHandler(t *testing.T, key signing.SigningKey, destination string, s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.count++
		s.host, s.uri, s.body, s.auth = r.Host, r.RequestURI, body, r.Header.Get("Authorization")
		auth, err := xmatrix.ParseAuthorization(s.auth)
		if err == nil {
			err = xmatrix.Verify(xmatrix.Request{Method: r.Method, URI: r.RequestURI, Origin: auth.Origin, Destination: destination, Content: body}, *auth, key.Public())
		}
		s.verified = err
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
}

type env struct {
	ca  *fedtest.CA
	dns *fedtest.DNS
	key signing.SigningKey
}

func newEnv(t *testing.T) *env {
	return &env{ca: fedtest.NewCA(t), dns: fedtest.NewDNS(), key: signingKey(t)}
}

func (e *env) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		ServerName: "origin.test",
		Key:        e.key,
		Guard:      netguard.New(nil, []netip.Prefix{netip.MustParsePrefix("127.0.0.2/31")}), // 127.0.0.2 and .3
		RootCAs:    e.ca.Pool,
		DNS:        e.dns,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestClient_Requests covers the request path end to end over TLS. A
// server name with an explicit port is reached at its A record and that
// port, with Host = the server name, SNI = the hostname and a certificate
// for it; the request is X-Matrix signed over exactly the request target
// sent.
func TestClient_Requests(t *testing.T) {
	e := newEnv(t)
	var s seen
	var dest string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verifyingHandler(t, e.key, dest, &s).ServeHTTP(w, r)
	})
	srv := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "hs.test"), h)
	dest = "hs.test:" + srv.Port
	e.dns.SetIP("hs.test", "127.0.0.2")
	c := e.client(t, nil)

	t.Run("GET with query, explicit port", func(t *testing.T) {
		var out struct{ OK bool }
		path := "/_matrix/federation/v1/query/profile?user_id=%40alice%3Ahs.test&field=displayname"
		if err := c.Get(context.Background(), dest, path, &out); err != nil || !out.OK {
			t.Fatalf("Get: %v, %+v", err, out)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.verified != nil {
			t.Fatalf("signature did not verify at the receiver: %v (%s)", s.verified, s.auth)
		}
		if s.host != dest || s.uri != path {
			t.Fatalf("Host %q URI %q", s.host, s.uri)
		}
		if sni := srv.SNI(); len(sni) == 0 || sni[0] != "hs.test" {
			t.Fatalf("SNI %v, want hs.test", sni)
		}
		if !strings.Contains(s.auth, `destination="`+dest+`"`) || !strings.Contains(s.auth, `origin="origin.test"`) {
			t.Fatalf("Authorization %s", s.auth)
		}
	})
	t.Run("PUT with body", func(t *testing.T) {
		if err := c.Put(context.Background(), dest, "/_matrix/federation/v1/send/txn%2F1", map[string]any{"pdus": []any{}}, nil); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.verified != nil || s.uri != "/_matrix/federation/v1/send/txn%2F1" || string(s.body) != `{"pdus":[]}` {
			t.Fatalf("verified %v, uri %q, body %s", s.verified, s.uri, s.body)
		}
	})
	t.Run("POST without body sends an empty object", func(t *testing.T) {
		if err := c.Post(context.Background(), dest, "/_matrix/federation/v1/user/keys/claim", nil, nil); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.verified != nil || string(s.body) != "{}" {
			t.Fatalf("verified %v, body %q", s.verified, s.body)
		}
	})
	t.Run("raw JSON body", func(t *testing.T) {
		var out json.RawMessage
		if err := c.Put(context.Background(), dest, "/_matrix/federation/v1/send/2", []byte(`{"pdus":[{"depth":1.5}]}`), &out); err != nil {
			t.Fatal(err)
		}
		if string(out) != `{"ok":true}` {
			t.Fatalf("raw response %s", out)
		}
	})
}

// TestClient_IPLiteral: an IP literal server name is dialed directly, no
// SNI is sent, and the certificate must hold the IP address.
func TestClient_IPLiteral(t *testing.T) {
	e := newEnv(t)
	var s seen
	var dest string
	srv := fedtest.Serve(t, "127.0.0.3", e.ca.Issue(t, "127.0.0.3"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verifyingHandler(t, e.key, dest, &s).ServeHTTP(w, r)
	}))
	dest = "127.0.0.3:" + srv.Port
	c := e.client(t, nil)
	if err := c.Get(context.Background(), dest, "/_matrix/federation/v1/version", nil); err != nil {
		t.Fatal(err)
	}
	if sni := srv.SNI(); len(sni) != 1 || sni[0] != "" {
		t.Fatalf("SNI %q, want none for an IP address", sni)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host != dest || s.verified != nil {
		t.Fatalf("Host %q, verified %v", s.host, s.verified)
	}
}

// TestClient_CertificateChecks: a certificate for another name, or from an
// untrusted authority, is refused; federation_verify_certificates: false
// accepts both.
func TestClient_CertificateChecks(t *testing.T) {
	e := newEnv(t)
	other := fedtest.NewCA(t)
	wrongName := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "someone-else.test"), okHandler())
	untrusted := fedtest.Serve(t, "127.0.0.3", other.Issue(t, "hs3.test"), okHandler())
	e.dns.SetIP("hs.test", "127.0.0.2")
	e.dns.SetIP("hs3.test", "127.0.0.3")
	c := e.client(t, nil)
	var ce x509.HostnameError
	if err := c.Get(context.Background(), "hs.test:"+wrongName.Port, "/x", nil); !errors.As(err, &ce) {
		t.Fatalf("wrong name: %v, want a hostname error", err)
	}
	var ue x509.UnknownAuthorityError
	if err := c.Get(context.Background(), "hs3.test:"+untrusted.Port, "/x", nil); !errors.As(err, &ue) {
		t.Fatalf("untrusted CA: %v, want an unknown authority error", err)
	}
	insecure := e.client(t, func(c *Config) { c.InsecureSkipVerify = true })
	if err := insecure.Get(context.Background(), "hs.test:"+wrongName.Port, "/x", nil); err != nil {
		t.Fatalf("with verification off: %v", err)
	}
	// federation_custom_ca_list replaces the trusted authorities.
	pool, err := LoadCAPool([]string{other.PEMPath})
	if err != nil {
		t.Fatal(err)
	}
	custom := e.client(t, func(c *Config) { c.RootCAs = pool })
	if err := custom.Get(context.Background(), "hs3.test:"+untrusted.Port, "/x", nil); err != nil {
		t.Fatalf("with the custom CA: %v", err)
	}
	if _, err := LoadCAPool([]string{"/nonexistent.pem"}); err == nil {
		t.Fatal("LoadCAPool accepted a missing file")
	}
}

// TestClient_IPGuard: every dial is checked against the blocklist after
// resolution: a name resolving to a blocked address is refused before
// connecting, and a whitelisted range opens it again.
func TestClient_IPGuard(t *testing.T) {
	e := newEnv(t)
	var hits int
	var mu sync.Mutex
	srv := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "hs.test", "127.0.0.2"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		_, _ = w.Write([]byte(`{}`))
	}))
	e.dns.SetIP("hs.test", "127.0.0.2")
	e.dns.SetIP("mapped.test", "::ffff:127.0.0.2")
	blocked := e.client(t, func(c *Config) { c.Guard = netguard.New(nil, nil) })
	for _, dest := range []string{"hs.test:" + srv.Port, "127.0.0.2:" + srv.Port, "mapped.test:" + srv.Port} {
		if err := blocked.Get(context.Background(), dest, "/x", nil); !errors.Is(err, ErrBlocked) {
			t.Fatalf("%s with the default blocklist: %v, want ErrBlocked", dest, err)
		}
	}
	// A resolution handed over in the context is checked like any other
	// (netguard's own tests cover the dialer's Control hook).
	if err := blocked.Get(withResolution(context.Background(), &discovery.Result{
		ServerName: "hs.test:" + srv.Port, Host: "hs.test", TLSName: "hs.test",
		Addrs: []netip.AddrPort{netip.MustParseAddrPort(srv.Addr)},
	}), "hs.test:"+srv.Port, "/x", nil); !errors.Is(err, ErrBlocked) {
		t.Fatalf("blocked address handed to the dialer: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Fatalf("the blocked server received %d requests", hits)
	}
}

// TestClient_DomainWhitelist: destinations outside
// federation_domain_whitelist are refused without any I/O.
func TestClient_DomainWhitelist(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(c *Config) { c.DomainWhitelist = []string{"friend.test"} })
	if err := c.Get(context.Background(), "stranger.test", "/x", nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("got %v, want ErrDenied", err)
	}
	if !c.Allowed("friend.test") || c.Allowed("stranger.test") {
		t.Fatal("Allowed disagrees with the whitelist")
	}
}

// TestClient_RemoteErrors: non-2xx answers become *Error with the status,
// errcode and retry time; redirects are not followed; oversized bodies are
// refused.
func TestClient_RemoteErrors(t *testing.T) {
	e := newEnv(t)
	srv := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "hs.test"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/notfound":
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"errcode":"M_NOT_FOUND","error":"Unknown room"}`))
		case "/limited":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":2000}`))
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.test/", http.StatusFound)
		case "/big":
			_, _ = w.Write([]byte(`{"x":"` + strings.Repeat("a", 2048) + `"}`))
		case "/html":
			w.WriteHeader(502)
			_, _ = w.Write([]byte(`<html>bad gateway</html>`))
		case "/dupkeys":
			_, _ = w.Write([]byte(`{"a":1,"a":2}`))
		}
	}))
	e.dns.SetIP("hs.test", "127.0.0.2")
	c := e.client(t, func(c *Config) { c.MaxResponseBytes = 1024 })
	dest := "hs.test:" + srv.Port
	ctx := context.Background()

	err := c.Get(ctx, dest, "/notfound", nil)
	var re *Error
	if !errors.As(err, &re) || re.Status != 404 || re.Errcode != "M_NOT_FOUND" || re.Message != "Unknown room" || StatusOf(err) != 404 {
		t.Fatalf("404: %v", err)
	}
	err = c.Get(ctx, dest, "/limited", nil)
	if !errors.As(err, &re) || re.Status != 429 || re.RetryAfter.Seconds() != 7 {
		t.Fatalf("429: %v (%+v)", err, re)
	}
	if err := c.Get(ctx, dest, "/redirect", nil); StatusOf(err) != 302 {
		t.Fatalf("redirect: %v", err)
	}
	if err := c.Get(ctx, dest, "/big", nil); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("big: %v", err)
	}
	if err := c.Get(ctx, dest, "/html", nil); StatusOf(err) != 502 {
		t.Fatalf("html error: %v", err)
	}
	var v map[string]int
	if err := c.Get(ctx, dest, "/dupkeys", &v); err == nil {
		t.Fatal("a response with duplicate keys was accepted")
	}
	if err := c.Get(ctx, "not a name", "/x", nil); err == nil {
		t.Fatal("an invalid destination was accepted")
	}
	if err := c.Get(ctx, dest, "http://evil.test/x", nil); err == nil {
		t.Fatal("an absolute URL was accepted as a path")
	}
}

// TestClient_WellKnownDelegation: a server name without a port is looked up
// at https://<name>/.well-known/matrix/server; its m.server decides the
// address, Host and certificate name. Redirects are followed, but every
// connection they lead to still passes the IP guard.
func TestClient_WellKnownDelegation(t *testing.T) {
	e := newEnv(t)
	var s seen
	api := fedtest.Serve(t, "127.0.0.3", e.ca.Issue(t, "matrix.deleg.test"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verifyingHandler(t, e.key, "deleg.test", &s).ServeHTTP(w, r)
	}))
	var evilHits int
	var mu sync.Mutex
	evil := fedtest.Serve(t, "127.0.0.9", e.ca.Issue(t, "evil.test"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		evilHits++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"m.server":"evil.test"}`))
	}))
	wk := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "deleg.test", "redirecting.test", "hop.test"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "deleg.test":
			_, _ = w.Write([]byte(`{"m.server":"matrix.deleg.test:` + api.Port + `"}`))
		case "hop.test":
			http.Redirect(w, r, "https://deleg.test/.well-known/matrix/server", http.StatusMovedPermanently)
		case "redirecting.test":
			http.Redirect(w, r, "https://evil.test/.well-known/matrix/server", http.StatusFound)
		}
	}))
	for _, h := range []string{"deleg.test", "redirecting.test", "hop.test"} {
		e.dns.SetIP(h, "127.0.0.2")
	}
	e.dns.SetIP("matrix.deleg.test", "127.0.0.3")
	e.dns.SetIP("evil.test", "127.0.0.9")
	c := e.client(t, nil)
	// .well-known is fetched on port 443; send it to the test server's
	// port instead, through the real guarded dial.
	c.wkTrans.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		port := wk.Port
		if host == "evil.test" {
			port = evil.Port
		}
		return c.dialViaDNS(ctx, network, net.JoinHostPort(host, port))
	}

	if err := c.Get(context.Background(), "deleg.test", "/_matrix/federation/v1/version", nil); err != nil {
		t.Fatalf("Get via well-known: %v", err)
	}
	s.mu.Lock()
	if s.host != "matrix.deleg.test:"+api.Port || s.verified != nil {
		t.Fatalf("Host %q (want the delegated name with port), verified %v", s.host, s.verified)
	}
	s.mu.Unlock()
	if sni := api.SNI(); len(sni) == 0 || sni[0] != "matrix.deleg.test" {
		t.Fatalf("SNI %v", sni)
	}

	res, err := c.Resolver().Resolve(context.Background(), "hop.test")
	if err != nil || res.Delegated != "matrix.deleg.test:"+api.Port {
		t.Fatalf("well-known behind a redirect: %+v, %v", res, err)
	}
	// A redirect to a blocked address is not followed to its end: the
	// dial is refused, the lookup counts as failed, and discovery falls
	// through to the SRV and default-port steps.
	res, err = c.Resolver().Resolve(context.Background(), "redirecting.test")
	if err != nil || res.Delegated != "" || res.Step != discovery.StepDefaultPort {
		t.Fatalf("redirect to a blocked address: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if evilHits != 0 {
		t.Fatalf("the blocked server was reached %d times", evilHits)
	}
}

// TestClient_SRVSkipsBlockedTargets: when one SRV target is blocked the
// next one is used.
func TestClient_SRVSkipsBlockedTargets(t *testing.T) {
	e := newEnv(t)
	srv := fedtest.Serve(t, "127.0.0.3", e.ca.Issue(t, "srv.test"), okHandler())
	port, _ := strconv.Atoi(srv.Port)
	e.dns.SetSRV("matrix-fed", "tcp", "srv.test",
		&net.SRV{Target: "blocked.test.", Port: uint16(port), Priority: 1},
		&net.SRV{Target: "ok.test.", Port: uint16(port), Priority: 2})
	e.dns.SetIP("blocked.test", "127.0.0.9")
	e.dns.SetIP("ok.test", "127.0.0.3")
	c := e.client(t, nil)
	if err := c.Get(context.Background(), "srv.test", "/x", nil); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if sni := srv.SNI(); len(sni) == 0 || sni[0] != "srv.test" {
		t.Fatalf("SNI %v, want the original hostname for SRV", sni)
	}
}

func TestServerNameFromAddr(t *testing.T) {
	for name, addr := range map[string]string{
		"example.org":      "example.org:0",
		"example.org:443":  "example.org:443",
		"[::1]":            "[::1]:0",
		"[::1]:8448":       "[::1]:8448",
		"127.0.0.1":        "127.0.0.1:0",
		"127.0.0.1:8448":   "127.0.0.1:8448",
		"a.example.org:80": "a.example.org:80",
	} {
		if got := urlHost(name); got != addr {
			t.Errorf("urlHost(%s) = %s, want %s", name, got, addr)
		}
		if got, err := serverNameFromAddr(addr); err != nil || got != name {
			t.Errorf("serverNameFromAddr(%s) = %s, %v; want %s", addr, got, err, name)
		}
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
}
