package server

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The cap counts an IPv4 address, or the /64 of an IPv6 one (a host or
// site usually holds a whole /64); IPv4-mapped IPv6 is IPv4.
func TestAddrKey_IPv4AddressOrIPv6Slash64(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"192.0.2.1:1000", "192.0.2.1:2000"},
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff::9]:2000"},
		{"[::ffff:192.0.2.1]:1000", "192.0.2.1:3000"},
	} {
		ka, oka := addrKey(tcpAddr(t, tt.a))
		kb, okb := addrKey(tcpAddr(t, tt.b))
		if !oka || !okb || ka != kb {
			t.Errorf("%s and %s count apart (%v, %v)", tt.a, tt.b, ka, kb)
		}
	}
	for _, tt := range []struct{ a, b string }{
		{"192.0.2.1:1000", "192.0.2.2:1000"},
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:3::1]:1000"},
	} {
		ka, _ := addrKey(tcpAddr(t, tt.a))
		kb, _ := addrKey(tcpAddr(t, tt.b))
		if ka == kb {
			t.Errorf("%s and %s count together", tt.a, tt.b)
		}
	}
}

func TestAddrLimiter_ReleasingMakesRoom(t *testing.T) {
	l := newAddrLimiter(2, prometheus.NewRegistry())
	k, _ := addrKey(tcpAddr(t, "192.0.2.1:1"))
	for i := range 2 {
		if !l.acquire(k) {
			t.Fatalf("connection %d of a cap of two was refused", i+1)
		}
	}
	if l.acquire(k) {
		t.Fatal("a third connection passed a cap of two")
	}
	l.release(k)
	if !l.acquire(k) {
		t.Fatal("a closed connection did not make room")
	}
}

func tcpAddr(t *testing.T, s string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
