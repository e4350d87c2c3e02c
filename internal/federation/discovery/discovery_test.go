package discovery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fakeDNS answers from maps and records every query.
type fakeDNS struct {
	mu    sync.Mutex
	srv   map[string][]*net.SRV // "_service._tcp.name"
	srvEr map[string]error
	ips   map[string][]string
	calls []string
}

func (d *fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	key := "_" + service + "._" + proto + "." + name
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "SRV "+key)
	if err := d.srvEr[key]; err != nil {
		return "", nil, err
	}
	if recs, ok := d.srv[key]; ok {
		return key, recs, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: key, IsNotFound: true}
}

func (d *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "A "+host)
	ss, ok := d.ips[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ss {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

// fakeWellKnown serves canned responses per hostname.
type fakeWellKnown struct {
	mu    sync.Mutex
	resp  map[string]*WellKnownResponse
	err   map[string]error
	calls map[string]int
	gate  chan struct{} // when set, fetches wait on it
}

func (f *fakeWellKnown) FetchWellKnown(ctx context.Context, host string) (*WellKnownResponse, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[host]++
	if err := f.err[host]; err != nil {
		return nil, err
	}
	if r, ok := f.resp[host]; ok {
		return r, nil
	}
	return &WellKnownResponse{StatusCode: 404, Header: http.Header{}, Body: []byte(`{"errcode":"M_NOT_FOUND"}`)}, nil
}

func (f *fakeWellKnown) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[host]
}

func wk(body string, header ...string) *WellKnownResponse {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return &WellKnownResponse{StatusCode: 200, Header: h, Body: []byte(body)}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestResolver(dns *fakeDNS, f *fakeWellKnown) (*Resolver, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := New(Config{DNS: dns, WellKnown: f, Now: c.now, Jitter: func(time.Duration) time.Duration { return 0 }})
	return r, c
}

func addrs(ss ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

// TestResolve_SpecSteps walks every case of server-server API "Resolving
// server names": which addresses are dialed, which Host header is sent and
// which name the certificate must match.
func TestResolve_SpecSteps(t *testing.T) {
	dns := &fakeDNS{
		ips: map[string][]string{
			"example.org":            {"203.0.113.1"},
			"hs.example.org":         {"203.0.113.2", "2001:db8::2"},
			"delegated.example.net":  {"203.0.113.3"},
			"srv-target.example.net": {"203.0.113.4"},
			"legacy-target.example":  {"203.0.113.5"},
			"target-a.example":       {"203.0.113.6"},
			"target-b.example":       {"203.0.113.7"},
			"fed.example":            {"203.0.113.8"},
			"srvdel.example":         {"203.0.113.9"},
			"legdel.example":         {"203.0.113.10"},
			"plain.example":          {"203.0.113.11"},
			"cname.example":          {"203.0.113.12"},
		},
		srv: map[string][]*net.SRV{
			"_matrix-fed._tcp.srvdel.example": {{Target: "srv-target.example.net.", Port: 8443}},
			"_matrix._tcp.legdel.example":     {{Target: "legacy-target.example", Port: 8444}},
			"_matrix-fed._tcp.fed.example":    {{Target: "target-a.example.", Port: 1111, Priority: 1}, {Target: "target-b.example.", Port: 2222, Priority: 2}},
			"_matrix._tcp.legacy.example":     {{Target: "legacy-target.example.", Port: 3333}},
			"_matrix-fed._tcp.both.example":   {{Target: "target-a.example.", Port: 4444}},
			"_matrix._tcp.both.example":       {{Target: "target-b.example.", Port: 5555}},
			"_matrix-fed._tcp.ipsrv.example":  {{Target: "203.0.113.20", Port: 6666}},
		},
	}
	f := &fakeWellKnown{resp: map[string]*WellKnownResponse{
		"wk-ip.example":       wk(`{"m.server": "203.0.113.30"}`),
		"wk-ipport.example":   wk(`{"m.server": "203.0.113.30:1234"}`),
		"wk-ipv6.example":     wk(`{"m.server": "[2001:db8::30]"}`),
		"wk-ipv6port.example": wk(`{"m.server": "[2001:db8::30]:1234"}`),
		"wk-port.example":     wk(`{"m.server": "delegated.example.net:8449"}`),
		"wk-srv.example":      wk(`{"m.server": "srvdel.example"}`),
		"wk-legacy.example":   wk(`{"m.server": "legdel.example"}`),
		"wk-default.example":  wk(`{"m.server": "plain.example"}`),
		"wk-cname.example":    wk(`{"m.server": "cname.example"}`),
	}}
	tests := []struct {
		name       string
		serverName string
		want       Result
	}{
		// Step 1: IP literals, with or without port; no DNS, no well-known.
		{"ipv4 literal", "203.0.113.50", Result{Addrs: addrs("203.0.113.50:8448"), Host: "203.0.113.50", TLSName: "203.0.113.50", Step: StepIPLiteral}},
		{"ipv4 literal with port", "203.0.113.50:1234", Result{Addrs: addrs("203.0.113.50:1234"), Host: "203.0.113.50:1234", TLSName: "203.0.113.50", Step: StepIPLiteral}},
		{"ipv6 literal", "[2001:db8::50]", Result{Addrs: addrs("[2001:db8::50]:8448"), Host: "[2001:db8::50]", TLSName: "2001:db8::50", Step: StepIPLiteral}},
		{"ipv6 literal with port", "[2001:db8::50]:1234", Result{Addrs: addrs("[2001:db8::50]:1234"), Host: "[2001:db8::50]:1234", TLSName: "2001:db8::50", Step: StepIPLiteral}},
		// Step 2: hostname with explicit port: A/AAAA only, Host with port.
		{"hostname with port", "hs.example.org:8000", Result{Addrs: addrs("203.0.113.2:8000", "[2001:db8::2]:8000"), Host: "hs.example.org:8000", TLSName: "hs.example.org", Step: StepExplicitPort}},
		// Step 3.1: well-known delegating to an IP literal: Host is the
		// IP (with the port when given), certificate for the IP.
		{"well-known to ip", "wk-ip.example", Result{Addrs: addrs("203.0.113.30:8448"), Host: "203.0.113.30", TLSName: "203.0.113.30", Delegated: "203.0.113.30", Step: StepWellKnownIPLiteral}},
		{"well-known to ip with port", "wk-ipport.example", Result{Addrs: addrs("203.0.113.30:1234"), Host: "203.0.113.30:1234", TLSName: "203.0.113.30", Delegated: "203.0.113.30:1234", Step: StepWellKnownIPLiteral}},
		{"well-known to ipv6", "wk-ipv6.example", Result{Addrs: addrs("[2001:db8::30]:8448"), Host: "[2001:db8::30]", TLSName: "2001:db8::30", Delegated: "[2001:db8::30]", Step: StepWellKnownIPLiteral}},
		{"well-known to ipv6 with port", "wk-ipv6port.example", Result{Addrs: addrs("[2001:db8::30]:1234"), Host: "[2001:db8::30]:1234", TLSName: "2001:db8::30", Delegated: "[2001:db8::30]:1234", Step: StepWellKnownIPLiteral}},
		// Step 3.2: delegated hostname with port: Host is
		// <delegated_hostname>:<delegated_port>.
		{"well-known with port", "wk-port.example", Result{Addrs: addrs("203.0.113.3:8449"), Host: "delegated.example.net:8449", TLSName: "delegated.example.net", Delegated: "delegated.example.net:8449", Step: StepWellKnownPort}},
		// Step 3.3: delegated hostname without port: _matrix-fed SRV of
		// the delegated name; Host and certificate are the delegated name.
		{"well-known then srv", "wk-srv.example", Result{Addrs: addrs("203.0.113.4:8443"), Host: "srvdel.example", TLSName: "srvdel.example", Delegated: "srvdel.example", Step: StepWellKnownSRV}},
		// Step 3.4: deprecated _matrix SRV of the delegated name.
		{"well-known then legacy srv", "wk-legacy.example", Result{Addrs: addrs("203.0.113.5:8444"), Host: "legdel.example", TLSName: "legdel.example", Delegated: "legdel.example", Step: StepWellKnownSRVLegacy}},
		// Step 3.5: delegated name, no SRV: port 8448.
		{"well-known then default port", "wk-default.example", Result{Addrs: addrs("203.0.113.11:8448"), Host: "plain.example", TLSName: "plain.example", Delegated: "plain.example", Step: StepWellKnownDefault}},
		{"well-known to a CNAME'd name", "wk-cname.example", Result{Addrs: addrs("203.0.113.12:8448"), Host: "cname.example", TLSName: "cname.example", Delegated: "cname.example", Step: StepWellKnownDefault}},
		// Step 4: no well-known: _matrix-fed SRV of the original name;
		// Host and certificate stay the original hostname. Targets keep
		// the resolver's (priority) order, each with its own port.
		{"srv", "fed.example", Result{Addrs: addrs("203.0.113.6:1111", "203.0.113.7:2222"), Host: "fed.example", TLSName: "fed.example", Step: StepSRV}},
		{"srv target given as an address", "ipsrv.example", Result{Addrs: addrs("203.0.113.20:6666"), Host: "ipsrv.example", TLSName: "ipsrv.example", Step: StepSRV}},
		// Step 5: deprecated _matrix SRV of the original name.
		{"legacy srv", "legacy.example", Result{Addrs: addrs("203.0.113.5:3333"), Host: "legacy.example", TLSName: "legacy.example", Step: StepSRVLegacy}},
		// _matrix-fed wins over _matrix when both exist.
		{"srv preferred over legacy", "both.example", Result{Addrs: addrs("203.0.113.6:4444"), Host: "both.example", TLSName: "both.example", Step: StepSRV}},
		// Step 6: nothing: port 8448 on the hostname's address.
		{"default port", "plain.example", Result{Addrs: addrs("203.0.113.11:8448"), Host: "plain.example", TLSName: "plain.example", Step: StepDefaultPort}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestResolver(dns, f)
			got, err := r.Resolve(context.Background(), tt.serverName)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tt.serverName, err)
			}
			tt.want.ServerName = tt.serverName
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("Resolve(%s)\n got %+v\nwant %+v", tt.serverName, *got, tt.want)
			}
		})
	}
}

// TestResolve_ShortcutsSkipLookups: IP literals use no DNS and no
// well-known; an explicit port uses address records only.
func TestResolve_ShortcutsSkipLookups(t *testing.T) {
	dns := &fakeDNS{ips: map[string][]string{"example.org": {"203.0.113.1"}},
		srv: map[string][]*net.SRV{"_matrix-fed._tcp.example.org": {{Target: "x.example.", Port: 1}}}}
	f := &fakeWellKnown{resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"other.example"}`)}}
	r, _ := newTestResolver(dns, f)
	for _, name := range []string{"203.0.113.9", "[2001:db8::1]:80"} {
		if _, err := r.Resolve(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if len(dns.calls) != 0 || len(f.calls) != 0 {
		t.Fatalf("IP literals caused lookups: dns %v, well-known %v", dns.calls, f.calls)
	}
	res, err := r.Resolve(context.Background(), "example.org:8448")
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != StepExplicitPort || !reflect.DeepEqual(dns.calls, []string{"A example.org"}) || f.count("example.org") != 0 {
		t.Fatalf("explicit port: step %s, dns %v, well-known calls %d", res.Step, dns.calls, f.count("example.org"))
	}
}

// TestResolve_InvalidWellKnownFallsThrough: "If the response is invalid
// (bad JSON, missing properties, non-200 response, etc), skip to step 4."
func TestResolve_InvalidWellKnownFallsThrough(t *testing.T) {
	cases := map[string]*WellKnownResponse{
		"non-200":               {StatusCode: 500, Header: http.Header{}, Body: []byte(`{"m.server":"x.example"}`)},
		"redirect not followed": {StatusCode: 302, Header: http.Header{}, Body: []byte(`{"m.server":"x.example"}`)},
		"bad JSON":              wk(`{"m.server": "x.example"`),
		"duplicate key":         wk(`{"m.server": "x.example", "m.server": "y.example"}`),
		"not an object":         wk(`["x.example"]`),
		"missing m.server":      wk(`{"m.homeserver": "x.example"}`),
		"m.server not a string": wk(`{"m.server": 8448}`),
		"m.server empty":        wk(`{"m.server": ""}`),
		"m.server invalid":      wk(`{"m.server": "https://x.example"}`),
		"m.server bad port":     wk(`{"m.server": "x.example:99999"}`),
		"m.server with path":    wk(`{"m.server": "x.example/matrix"}`),
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			dns := &fakeDNS{ips: map[string][]string{"example.org": {"203.0.113.1"}, "x.example": {"203.0.113.99"}}}
			f := &fakeWellKnown{resp: map[string]*WellKnownResponse{"example.org": resp}}
			r, _ := newTestResolver(dns, f)
			got, err := r.Resolve(context.Background(), "example.org")
			if err != nil {
				t.Fatal(err)
			}
			want := Result{ServerName: "example.org", Addrs: addrs("203.0.113.1:8448"), Host: "example.org", TLSName: "example.org", Step: StepDefaultPort}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v, want %+v", *got, want)
			}
		})
	}
	t.Run("transport error", func(t *testing.T) {
		dns := &fakeDNS{ips: map[string][]string{"example.org": {"203.0.113.1"}}}
		f := &fakeWellKnown{err: map[string]error{"example.org": errors.New("connection refused")}}
		r, _ := newTestResolver(dns, f)
		got, err := r.Resolve(context.Background(), "example.org")
		if err != nil || got.Step != StepDefaultPort {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

// TestResolve_Errors: names that resolve to nothing are errors rather than
// guesses; a failed SRV lookup falls through (srvcache_test.go), so
// servfail.example fails only because it has no address either.
func TestResolve_Errors(t *testing.T) {
	dns := &fakeDNS{
		ips: map[string][]string{"srvonly.example": {"203.0.113.1"}},
		srv: map[string][]*net.SRV{
			"_matrix-fed._tcp.dot.example":     {{Target: ".", Port: 0}},
			"_matrix-fed._tcp.deadsrv.example": {{Target: "nowhere.example.", Port: 1}},
		},
		srvEr: map[string]error{"_matrix-fed._tcp.servfail.example": &net.DNSError{Err: "server misbehaving", Name: "servfail.example", IsTemporary: true}},
	}
	r, _ := newTestResolver(dns, &fakeWellKnown{})
	for _, name := range []string{"nxdomain.example", "nxdomain.example:8448", "dot.example", "deadsrv.example", "servfail.example", "not a name", "010.0.0.1"} {
		if got, err := r.Resolve(context.Background(), name); err == nil {
			t.Errorf("Resolve(%q) = %+v, want an error", name, got)
		}
	}
}

// TestWellKnownCache_HonoursHeaders: results are cached for the time the
// response's Cache-Control or Expires allows, bounded to [5 min, 48 h],
// and 24 h (plus jitter) when they say nothing.
func TestWellKnownCache_HonoursHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		ttl     time.Duration
	}{
		{"default", nil, WellKnownDefaultTTL},
		{"max-age", []string{"Cache-Control", "public, max-age=3600"}, time.Hour},
		{"max-age bounded below", []string{"Cache-Control", "max-age=10"}, WellKnownMinTTL},
		{"max-age bounded above", []string{"Cache-Control", "max-age=999999999"}, WellKnownMaxTTL},
		{"no-store means the minimum", []string{"Cache-Control", "no-store"}, WellKnownMinTTL},
		{"Expires", []string{"Expires", "Thu, 01 Jan 2026 06:00:00 GMT"}, 6 * time.Hour},
		{"invalid Expires means expired", []string{"Expires", "0"}, WellKnownMinTTL},
		{"Cache-Control wins over Expires", []string{"Cache-Control", "max-age=7200", "Expires", "Thu, 01 Jan 2026 06:00:00 GMT"}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := &fakeDNS{ips: map[string][]string{"d.example": {"203.0.113.1"}}}
			f := &fakeWellKnown{resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"d.example:443"}`, tt.headers...)}}
			r, c := newTestResolver(dns, f)
			resolve := func() {
				t.Helper()
				if res, err := r.Resolve(context.Background(), "example.org"); err != nil || res.Delegated != "d.example:443" {
					t.Fatalf("Resolve: %+v, %v", res, err)
				}
			}
			resolve()
			c.t = c.t.Add(tt.ttl - time.Second)
			resolve()
			if n := f.count("example.org"); n != 1 {
				t.Fatalf("fetched %d times within the TTL, want 1", n)
			}
			c.t = c.t.Add(time.Second)
			resolve()
			if n := f.count("example.org"); n != 2 {
				t.Fatalf("fetched %d times after the TTL, want 2", n)
			}
		})
	}
}

// TestWellKnownCache_Jitter: the default TTL gets up to 10% of random
// extra time, so entries fetched together expire apart.
func TestWellKnownCache_Jitter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var asked time.Duration
	f := &fakeWellKnown{resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"d.example:443"}`)}}
	r := New(Config{DNS: &fakeDNS{ips: map[string][]string{"d.example": {"203.0.113.1"}}}, WellKnown: f, Now: c.now,
		Jitter: func(max time.Duration) time.Duration { asked = max; return max - 1 }})
	if _, err := r.Resolve(context.Background(), "example.org"); err != nil {
		t.Fatal(err)
	}
	if asked != WellKnownDefaultTTL/10 {
		t.Fatalf("jitter range %v, want %v", asked, WellKnownDefaultTTL/10)
	}
	c.t = c.t.Add(WellKnownDefaultTTL + asked - 2)
	_, _ = r.Resolve(context.Background(), "example.org")
	if f.count("example.org") != 1 {
		t.Fatal("refetched inside the jittered TTL")
	}
}

// TestWellKnownCache_Failures: a failed lookup is cached for an hour; a
// domain that recently had a valid well-known is retried after 2 minutes,
// backing off exponentially up to the hour.
func TestWellKnownCache_Failures(t *testing.T) {
	t.Run("never valid: one hour", func(t *testing.T) {
		dns := &fakeDNS{ips: map[string][]string{"example.org": {"203.0.113.1"}}}
		f := &fakeWellKnown{}
		r, c := newTestResolver(dns, f)
		_, _ = r.Resolve(context.Background(), "example.org")
		c.t = c.t.Add(WellKnownInvalidTTL - time.Second)
		_, _ = r.Resolve(context.Background(), "example.org")
		if f.count("example.org") != 1 {
			t.Fatalf("404 refetched within the hour")
		}
		c.t = c.t.Add(time.Second)
		_, _ = r.Resolve(context.Background(), "example.org")
		if f.count("example.org") != 2 {
			t.Fatalf("404 not refetched after the hour")
		}
	})
	t.Run("recently valid: back off from 2 minutes", func(t *testing.T) {
		dns := &fakeDNS{ips: map[string][]string{"example.org": {"203.0.113.1"}, "d.example": {"203.0.113.2"}}}
		f := &fakeWellKnown{resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"d.example:443"}`, "Cache-Control", "max-age=600")}}
		r, c := newTestResolver(dns, f)
		if res, _ := r.Resolve(context.Background(), "example.org"); res.Delegated != "d.example:443" {
			t.Fatal("first lookup not delegated")
		}
		f.mu.Lock()
		f.err = map[string]error{"example.org": errors.New("timeout")}
		f.mu.Unlock()
		c.t = c.t.Add(10 * time.Minute)
		res, _ := r.Resolve(context.Background(), "example.org")
		if res.Step != StepDefaultPort {
			t.Fatalf("during the outage: step %s, want fallback to step 6", res.Step)
		}
		for i, wait := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute} {
			before := f.count("example.org")
			c.t = c.t.Add(wait - time.Second)
			_, _ = r.Resolve(context.Background(), "example.org")
			if f.count("example.org") != before {
				t.Fatalf("failure %d: refetched before %v", i+1, wait)
			}
			c.t = c.t.Add(time.Second)
			_, _ = r.Resolve(context.Background(), "example.org")
			if f.count("example.org") != before+1 {
				t.Fatalf("failure %d: not refetched after %v", i+1, wait)
			}
		}
		f.mu.Lock()
		f.err = nil
		f.mu.Unlock()
		c.t = c.t.Add(WellKnownInvalidTTL)
		if res, _ := r.Resolve(context.Background(), "example.org"); res.Delegated != "d.example:443" {
			t.Fatalf("after recovery: %+v", res)
		}
	})
}

// TestWellKnownCache_SharesConcurrentFetches: many requests for one name
// while its well-known is being fetched cause one fetch.
func TestWellKnownCache_SharesConcurrentFetches(t *testing.T) {
	dns := &fakeDNS{ips: map[string][]string{"d.example": {"203.0.113.2"}}}
	f := &fakeWellKnown{gate: make(chan struct{}), resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"d.example:443"}`)}}
	r, _ := newTestResolver(dns, f)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Resolve(context.Background(), "example.org")
			if err == nil && res.Delegated != "d.example:443" {
				err = errors.New("not delegated")
			}
			errs <- err
		}()
	}
	// Let the single fetch through once every caller is waiting on it or
	// has already been answered.
	for {
		r.wk.mu.Lock()
		_, running := r.wk.inflight["example.org"]
		r.wk.mu.Unlock()
		if running {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("example.org"); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestWellKnownCache_CallerCancel: a caller that gives up gets its context
// error; the shared fetch still completes and is cached.
func TestWellKnownCache_CallerCancel(t *testing.T) {
	f := &fakeWellKnown{gate: make(chan struct{}), resp: map[string]*WellKnownResponse{"example.org": wk(`{"m.server":"d.example:443"}`)}}
	r, _ := newTestResolver(&fakeDNS{ips: map[string][]string{"d.example": {"203.0.113.2"}}}, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Resolve(ctx, "example.org"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Resolve: %v", err)
	}
	close(f.gate)
	res, err := r.Resolve(context.Background(), "example.org")
	if err != nil || res.Delegated != "d.example:443" {
		t.Fatalf("after cancel: %+v, %v", res, err)
	}
}

// TestWellKnownCache_Bounded: the cache never holds more than its bound.
func TestWellKnownCache_Bounded(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dns := &fakeDNS{ips: map[string][]string{}}
	r := New(Config{DNS: dns, WellKnown: &fakeWellKnown{}, Now: c.now, MaxCacheEntries: 5})
	for i := range 20 {
		_, _ = r.Resolve(context.Background(), "h"+string(rune('a'+i))+".example")
	}
	if n := len(r.wk.entries); n > 5 {
		t.Fatalf("cache holds %d entries, bound is 5", n)
	}
}

func TestParseWellKnown_ReadsJSONWhateverTheContentType(t *testing.T) {
	got, err := ParseWellKnown(wk(`{"m.server":"matrix.example.org:443","other":[1,2]}`, "Content-Type", "text/plain"))
	if err != nil || got != "matrix.example.org:443" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func FuzzParseWellKnown(f *testing.F) {
	f.Add([]byte(`{"m.server":"matrix.example.org:443"}`))
	f.Add([]byte(`{"m.server":"[::1]"}`))
	f.Add([]byte(`{"m.server":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseWellKnown(&WellKnownResponse{StatusCode: 200, Body: body})
		if err == nil && s == "" {
			t.Fatal("accepted an empty delegation")
		}
	})
}
