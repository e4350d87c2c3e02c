package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	return mustPrefixes(ss...)
}

// TestGuard_DefaultBlocklist: Synapse's default ip_range_blacklist refuses
// private, loopback, link-local, CGNAT, documentation, benchmarking and
// multicast ranges, and the unspecified addresses; public addresses pass.
func TestGuard_DefaultBlocklist(t *testing.T) {
	g := New(nil, nil)
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"100.64.0.1", false},    // carrier-grade NAT
		{"100.127.255.1", false}, // carrier-grade NAT, top
		{"100.128.0.1", true},
		{"169.254.169.254", false}, // cloud metadata endpoint
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.5", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"0.0.0.0", false},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001::200e", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := g.Allowed(a); got != tt.allowed {
				t.Fatalf("Allowed(%s) = %v, want %v (err %v)", tt.addr, got, tt.allowed, g.Check(a))
			}
			if err := g.Check(a); (err == nil) != tt.allowed || (err != nil && !errors.Is(err, ErrBlocked)) {
				t.Fatalf("Check(%s) = %v", tt.addr, err)
			}
		})
	}
}

// TestGuard_EmbeddedIPv4: IPv6 forms that carry an IPv4 address are judged
// by that address too, so a blocked IPv4 range cannot be reached through
// its mapped, compatible, NAT64 or 6to4 spelling.
func TestGuard_EmbeddedIPv4(t *testing.T) {
	g := New(nil, nil)
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"::ffff:127.0.0.1", false},     // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},      // IPv4-mapped private
		{"::ffff:8.8.8.8", true},        // IPv4-mapped public
		{"::127.0.0.1", false},          // IPv4-compatible (deprecated)
		{"::8.8.8.8", true},             // IPv4-compatible public
		{"64:ff9b::a00:1", false},       // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true},      // NAT64 of 8.8.8.8
		{"64:ff9b:1::a9fe:a9fe", false}, // local-use NAT64 of 169.254.169.254
		{"2002:7f00:1::1", false},       // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", false},     // 6to4 of 192.168.1.1
		{"2002:808:808::1", true},       // 6to4 of 8.8.8.8
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := g.Allowed(netip.MustParseAddr(tt.addr)); got != tt.allowed {
				t.Fatalf("Allowed(%s) = %v, want %v", tt.addr, got, tt.allowed)
			}
		})
	}
}

// TestGuard_WhitelistOverrides: ip_range_whitelist punches holes in the
// blocklist, in every spelling of the address, and nothing else.
func TestGuard_WhitelistOverrides(t *testing.T) {
	g := New(nil, prefixes("127.0.0.0/8", "fd00:1::/32"))
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"::ffff:127.0.0.3", true},
		{"2002:7f00:1::1", true}, // 6to4 of a whitelisted IPv4 address
		{"::1", false},           // IPv6 loopback is not in the whitelist
		{"10.0.0.1", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := g.Allowed(netip.MustParseAddr(tt.addr)); got != tt.allowed {
				t.Fatalf("Allowed(%s) = %v, want %v", tt.addr, got, tt.allowed)
			}
		})
	}
}

// TestGuard_CustomBlocklist: a configured list replaces the default; a
// range written in IPv4-mapped form applies to IPv4 addresses; an empty
// non-nil list blocks nothing.
func TestGuard_CustomBlocklist(t *testing.T) {
	g := New(prefixes("8.8.8.0/24", "::ffff:9.9.9.0/120"), nil)
	for addr, want := range map[string]bool{
		"8.8.8.8":   false,
		"8.8.4.4":   true,
		"9.9.9.9":   false,
		"127.0.0.1": true, // not in this list
	} {
		if got := g.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	open := New([]netip.Prefix{}, nil)
	if !open.Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an empty blocklist must allow loopback")
	}
	if open.Allowed(netip.Addr{}) {
		t.Error("the invalid address must never be allowed")
	}
}

// TestGuard_CheckHostPort: the dialer hands over "ip:port"; anything that
// is not an IP literal is refused because resolution already happened.
func TestGuard_CheckHostPort(t *testing.T) {
	g := New(nil, nil)
	tests := []struct {
		address string
		ok      bool
	}{
		{"8.8.8.8:8448", true},
		{"[2606:4700::1]:443", true},
		{"127.0.0.1:8448", false},
		{"[::1]:8448", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"example.org:443", false},
		{"8.8.8.8", false}, // no port
		{"", false},
	}
	for _, tt := range tests {
		err := g.CheckHostPort(tt.address)
		if (err == nil) != tt.ok {
			t.Errorf("CheckHostPort(%q) = %v, want ok=%v", tt.address, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckHostPort(%q) error %v does not wrap ErrBlocked", tt.address, err)
		}
	}
}

// TestGuard_DialerRefusesBeforeConnecting: the guarded dialer refuses a
// blocked address at connect time, so a name that resolves to loopback is
// caught even though the caller only ever saw the name.
func TestGuard_DialerRefusesBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	blocked := New(nil, nil).Dialer(nil)
	if _, err := blocked.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial loopback with the default blocklist: %v, want ErrBlocked", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err := blocked.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial localhost by name: %v, want ErrBlocked", err)
	}

	allowed := New(nil, prefixes("127.0.0.0/8")).Dialer(nil)
	c, err := allowed.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial whitelisted loopback: %v", err)
	}
	c.Close()
}

// TestGuard_DialerKeepsCallerControl: a Control the caller already had
// still runs, after the guard.
func TestGuard_DialerKeepsCallerControl(t *testing.T) {
	called := 0
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error { called++; return nil }}
	d := New([]netip.Prefix{}, nil).Dialer(base)
	if err := d.Control("tcp4", "8.8.8.8:1", nil); err != nil || called != 1 {
		t.Fatalf("Control: err %v, caller's control called %d times", err, called)
	}
	d = New(nil, nil).Dialer(base)
	if err := d.Control("tcp4", "127.0.0.1:1", nil); err == nil || called != 1 {
		t.Fatalf("blocked Control: err %v, caller's control called %d times (want not called)", err, called)
	}

	ctxCalled := 0
	base = &net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error { ctxCalled++; return nil }}
	d = New(nil, nil).Dialer(base)
	if err := d.ControlContext(context.Background(), "tcp4", "127.0.0.1:1", nil); err == nil || ctxCalled != 0 {
		t.Fatalf("blocked ControlContext: err %v, called %d", err, ctxCalled)
	}
	if err := d.ControlContext(context.Background(), "tcp4", "8.8.8.8:1", nil); err != nil || ctxCalled != 1 {
		t.Fatalf("allowed ControlContext: err %v, called %d", err, ctxCalled)
	}
}

// TestDefaultBlocklist_IsACopy: callers cannot change the defaults.
func TestDefaultBlocklist_IsACopy(t *testing.T) {
	a := DefaultBlocklist()
	a[0] = netip.MustParsePrefix("8.8.8.0/24")
	if DefaultBlocklist()[0] == a[0] {
		t.Fatal("DefaultBlocklist returned shared storage")
	}
}

func FuzzCheckHostPort(f *testing.F) {
	for _, s := range []string{"127.0.0.1:1", "[::ffff:10.0.0.1]:2", "[64:ff9b::1]:3", "x:1", "[fe80::1%eth0]:4", ""} {
		f.Add(s)
	}
	g := New(nil, prefixes("127.0.0.2/32"))
	f.Fuzz(func(t *testing.T, s string) {
		_ = g.CheckHostPort(s) // must not panic
	})
}
