package server

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// addrLimiter counts the open connections of each client address across
// the listeners it guards (myelin.max_connections_per_address). Without
// it, one address opening connections that send nothing, or trickle a
// body, could take every file descriptor of the process, and then no
// one else could connect.
type addrLimiter struct {
	max     int
	refused prometheus.Counter
	mu      sync.Mutex
	open    map[netip.Prefix]int
}

func newAddrLimiter(max int, reg prometheus.Registerer) *addrLimiter {
	refused := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "myelin", Subsystem: "http", Name: "connections_refused_total",
		Help: "Connections closed at once because their address already held max_connections_per_address.",
	})
	if err := reg.Register(refused); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic("server: register metrics: " + err.Error())
		}
		refused = are.ExistingCollector.(prometheus.Counter)
	}
	return &addrLimiter{max: max, refused: refused, open: map[netip.Prefix]int{}}
}

// addrKey is the unit the cap counts: the IPv4 address, or the /64 of an
// IPv6 address (one host or site usually holds a whole /64, so counting
// single IPv6 addresses would be no cap at all).
func addrKey(a net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.WithZone("").Prefix(bits)
	return p, err == nil
}

func (l *addrLimiter) acquire(k netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[k] >= l.max {
		return false
	}
	l.open[k]++
	return true
}

func (l *addrLimiter) release(k netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[k]--; l.open[k] <= 0 {
		delete(l.open, k)
	}
}

// wrap returns ln with the cap applied to the connections it accepts.
func (l *addrLimiter) wrap(ln net.Listener) net.Listener {
	if l == nil || l.max <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, lim: l}
}

type limitedListener struct {
	net.Listener
	lim *addrLimiter
}

// Accept closes connections over the cap at once and waits for the next:
// holding them, or answering them, would spend on the flood what the cap
// is there to save.
func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		k, ok := addrKey(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		if !ln.lim.acquire(k) {
			ln.lim.refused.Inc()
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { ln.lim.release(k) }}, nil
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
