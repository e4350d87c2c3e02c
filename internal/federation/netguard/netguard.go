// Package netguard decides which IP addresses outgoing requests may reach,
// so that a remote party who controls a server name, a .well-known file, a
// redirect or a DNS record cannot point Myelin at its own network
// (server-side request forgery). It serves federation, and will serve URL
// previews and push, which take their ranges from the same configuration.
//
// The check runs on the address actually dialed: install Guard.Control as
// a net.Dialer's Control function and it sees every connection, after DNS
// resolution and after any redirect, whatever code made the request.
//
// The rules are Synapse's (ip_range_blacklist / ip_range_whitelist): an
// address is refused when it lies in a blocked range, unless it also lies
// in an allowed range. Embedded IPv4 addresses are checked too: an
// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64
// (64:ff9b::/96, 64:ff9b:1::/48) or 6to4 (2002::/16) address is refused when
// the IPv4 address inside it is, so "::ffff:127.0.0.1" or "64:ff9b::a00:1"
// do not slip past an IPv4 range.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrBlocked is wrapped by every refusal, so callers can tell a policy
// refusal from a network failure with errors.Is.
var ErrBlocked = errors.New("netguard: address is blocked")

// DefaultBlocklist is Synapse's documented default for ip_range_blacklist:
// loopback, RFC 1918 private, carrier-grade NAT (100.64.0.0/10), IETF
// protocol assignments, link-local, 6to4 relay anycast, benchmarking,
// documentation, multicast, IPv6 unique-local and site-local ranges; plus
// the unspecified addresses 0.0.0.0 and ::, which reach the local host and
// which Synapse always adds. It returns a new slice on every call.
func DefaultBlocklist() []netip.Prefix { return mustPrefixes(defaultBlocklist...) }

var defaultBlocklist = []string{
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "192.0.0.0/24", "169.254.0.0/16", "192.88.99.0/24",
	"198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
	"224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7", "2001:db8::/32",
	"ff00::/8", "fec0::/10",
	"0.0.0.0/32", "::/128",
}

// Guard holds the blocked and allowed ranges. It is immutable and safe for
// concurrent use. The zero Guard allows everything; use New.
type Guard struct {
	block []netip.Prefix
	allow []netip.Prefix
}

// New returns a Guard refusing addresses in block unless they are in allow.
// Pass config.Config's FederationIPRangeBlacklist (or IPRangeBlacklist) and
// IPRangeWhitelist, which already hold the defaults when unset; a nil block
// list means DefaultBlocklist. Prefixes are masked, so "10.1.2.3/8" means
// 10.0.0.0/8.
func New(block, allow []netip.Prefix) *Guard {
	if block == nil {
		block = DefaultBlocklist()
	}
	return &Guard{block: normalize(block), allow: normalize(allow)}
}

func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// "::ffff:10.0.0.0/104" is how some write an IPv4 range.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// Allowed reports whether an outgoing connection to addr is permitted.
// Zones are ignored ("fe80::1%eth0" is fe80::1).
func (g *Guard) Allowed(addr netip.Addr) bool {
	return g.Check(addr) == nil
}

// Check returns nil when addr may be dialed and an error wrapping ErrBlocked
// otherwise. An invalid address is refused.
func (g *Guard) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBlocked)
	}
	addr = addr.WithZone("").Unmap()
	if g == nil || len(g.block) == 0 {
		return nil
	}
	candidates := []netip.Addr{addr}
	if v4, ok := embeddedIPv4(addr); ok {
		candidates = append(candidates, v4)
	}
	// The allow list wins if it names the address in any of its forms:
	// whitelisting 127.0.0.0/8 must also admit ::ffff:127.0.0.1.
	for _, a := range candidates {
		if contains(g.allow, a) {
			return nil
		}
	}
	for _, a := range candidates {
		if contains(g.block, a) {
			if a == addr {
				return fmt.Errorf("%w: %s is in a blocked range (ip_range_blacklist)", ErrBlocked, addr)
			}
			return fmt.Errorf("%w: %s embeds %s, which is in a blocked range (ip_range_blacklist)", ErrBlocked, addr, a)
		}
	}
	return nil
}

// CheckHostPort checks a "host:port" dial address whose host is an IP
// literal. A host that is not an IP literal is refused: by the time a
// dialer's Control runs, the name has been resolved.
func (g *Guard) CheckHostPort(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBlocked, address, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrBlocked, host)
	}
	return g.Check(addr)
}

// Control has the signature of net.Dialer.Control. It runs after name
// resolution, just before each connect(2), with the address about to be
// dialed, so it also covers every address a dialer tries in turn
// (happy eyeballs) and every connection made while following redirects.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	return g.CheckHostPort(address)
}

// Dialer returns a copy of base (or a zero net.Dialer) whose Control runs
// the guard before any other Control base had.
func (g *Guard) Dialer(base *net.Dialer) *net.Dialer {
	d := &net.Dialer{}
	if base != nil {
		*d = *base
	}
	prev := d.Control
	prevCtx := d.ControlContext
	d.ControlContext = nil
	d.Control = func(network, address string, c syscall.RawConn) error {
		if err := g.Control(network, address, c); err != nil {
			return err
		}
		if prev != nil {
			return prev(network, address, c)
		}
		return nil
	}
	if prevCtx != nil {
		// net.Dialer ignores Control when ControlContext is set, so keep
		// the caller's function by chaining it inside ControlContext.
		guarded := d.Control
		d.Control = nil
		d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
			if err := guarded(network, address, c); err != nil {
				return err
			}
			return prevCtx(ctx, network, address, c)
		}
	}
	return d
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 extracts the IPv4 address an IPv6 address carries by
// construction and which a translator or relay would route to. addr has
// already been unmapped, so IPv4-mapped addresses arrive as IPv4.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case ipv4Compatible.Contains(addr):
		// ::/128 and ::1/128 are themselves in the block list; ::a.b.c.d
		// (deprecated, RFC 4291 2.5.5.1) embeds a.b.c.d.
		if addr == netip.IPv6Unspecified() || addr == netip.IPv6Loopback() {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64WellKnown.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64Local.Contains(addr):
		// RFC 8215 leaves the embedding length to the operator; /96 is the
		// usual choice and the only one we can check without knowing it.
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}
