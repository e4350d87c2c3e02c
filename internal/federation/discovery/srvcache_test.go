package discovery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func (d *fakeDNS) count(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// An SRV lookup that times out or fails falls through to the next step
// (server-server-api "Resolving server names": only the address lookup of
// the last step can end resolution), as Synapse does: a resolver that
// answers SRV queries badly must not stop federation.
func TestResolve_SRVFailureFallsThroughToTheNextStep(t *testing.T) {
	timeout := &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}
	servfail := &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}
	dns := &fakeDNS{
		ips: map[string][]string{"slow.example": {"203.0.113.1"}, "legacy-target.example": {"203.0.113.2"}, "both.example": {"203.0.113.3"}},
		srv: map[string][]*net.SRV{"_matrix._tcp.legacy.example": {{Target: "legacy-target.example.", Port: 8444}}},
		srvEr: map[string]error{
			"_matrix-fed._tcp.slow.example":   timeout,
			"_matrix._tcp.slow.example":       servfail,
			"_matrix-fed._tcp.legacy.example": servfail,
			"_matrix-fed._tcp.both.example":   servfail,
			"_matrix._tcp.both.example":       timeout,
		},
	}
	r, _ := newTestResolver(dns, &fakeWellKnown{})
	for _, tc := range []struct {
		name, addr string
		step       Step
	}{
		{"slow.example", "203.0.113.1:8448", StepDefaultPort},
		{"legacy.example", "203.0.113.2:8444", StepSRVLegacy},
		{"both.example", "203.0.113.3:8448", StepDefaultPort},
	} {
		got, err := r.Resolve(context.Background(), tc.name)
		if err != nil || got.Step != tc.step || len(got.Addrs) != 1 || got.Addrs[0].String() != tc.addr {
			t.Errorf("Resolve(%q) = %+v, %v; want %s at %s", tc.name, got, err, tc.addr, tc.step)
		}
	}
}

// SRV answers, their absence and failures are cached with bounded
// lifetimes, so a slow resolver costs one wait, not one per request.
func TestResolve_SRVAnswersAreCached(t *testing.T) {
	dns := &fakeDNS{
		ips:   map[string][]string{"plain.example": {"203.0.113.1"}, "flaky.example": {"203.0.113.2"}, "t.example": {"203.0.113.3"}},
		srv:   map[string][]*net.SRV{"_matrix-fed._tcp.srv.example": {{Target: "t.example.", Port: 1}}},
		srvEr: map[string]error{"_matrix-fed._tcp.flaky.example": &net.DNSError{Err: "i/o timeout", IsTimeout: true}},
	}
	r, c := newTestResolver(dns, &fakeWellKnown{})
	resolve := func(name string) {
		t.Helper()
		if _, err := r.Resolve(context.Background(), name); err != nil {
			t.Fatalf("Resolve(%q): %v", name, err)
		}
	}
	for _, name := range []string{"plain.example", "flaky.example", "srv.example"} {
		resolve(name)
		resolve(name)
	}
	for key, want := range map[string]int{
		"SRV _matrix-fed._tcp.plain.example": 1, "SRV _matrix._tcp.plain.example": 1,
		"SRV _matrix-fed._tcp.flaky.example": 1, "SRV _matrix-fed._tcp.srv.example": 1,
	} {
		if got := dns.count(key); got != want {
			t.Errorf("%s asked %d times, want %d", key, got, want)
		}
	}
	// A failure is retried after SRVFailedTTL; records and their absence
	// are kept until SRVFoundTTL.
	c.t = c.t.Add(SRVFailedTTL + time.Second)
	resolve("flaky.example")
	resolve("plain.example")
	if got := dns.count("SRV _matrix-fed._tcp.flaky.example"); got != 2 {
		t.Errorf("failed lookup asked %d times after its lifetime, want 2", got)
	}
	if got := dns.count("SRV _matrix-fed._tcp.plain.example"); got != 1 {
		t.Errorf("absent records asked %d times within their lifetime, want 1", got)
	}
	c.t = c.t.Add(SRVFoundTTL)
	resolve("srv.example")
	if got := dns.count("SRV _matrix-fed._tcp.srv.example"); got != 2 {
		t.Errorf("records asked %d times after their lifetime, want 2", got)
	}
}

// cancellingDNS cancels the request during its first SRV query, as a
// client that goes away mid-lookup does.
type cancellingDNS struct {
	*fakeDNS
	cancel context.CancelFunc
}

func (d *cancellingDNS) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if d.cancel != nil {
		d.cancel()
		d.cancel = nil
		d.fakeDNS.LookupSRV(ctx, service, proto, name)
		return "", nil, &net.DNSError{Err: "operation was canceled", Name: name}
	}
	return d.fakeDNS.LookupSRV(ctx, service, proto, name)
}

// A lookup the request itself gave up on teaches the cache nothing.
func TestResolve_CancelledSRVLookupIsNotCached(t *testing.T) {
	fake := &fakeDNS{ips: map[string][]string{"x.example": {"203.0.113.1"}}}
	ctx, cancel := context.WithCancel(context.Background())
	dns := &cancellingDNS{fakeDNS: fake, cancel: cancel}
	r := New(Config{DNS: dns, WellKnown: &fakeWellKnown{}})
	if _, err := r.Resolve(ctx, "x.example"); err == nil {
		t.Fatal("a resolution cancelled during its SRV lookup succeeded")
	}
	if _, err := r.Resolve(context.Background(), "x.example"); err != nil {
		t.Fatal(err)
	}
	if got := fake.count("SRV _matrix-fed._tcp.x.example"); got != 2 {
		t.Errorf("SRV asked %d times, want 2: the cancelled lookup must not be cached", got)
	}
}
