// Package discovery resolves a Matrix server name to the addresses to
// connect to, the Host header to send and the name the TLS certificate must
// be valid for, exactly as the server-server API's "Resolving server names"
// lays out: IP literals, explicit ports, /.well-known/matrix/server
// delegation, SRV records (_matrix-fed._tcp, then the deprecated
// _matrix._tcp) and the default port 8448.
//
// DNS and the .well-known fetch are interfaces, so every step is tested
// with fakes; fedclient supplies the real ones (net.Resolver, and an HTTPS
// client whose connections pass the IP guard).
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/ids"
)

// DefaultPort is the federation port used when nothing else names one.
const DefaultPort = 8448

// DNS is the part of *net.Resolver discovery uses.
type DNS interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Step names which rule of "Resolving server names" produced a Result.
type Step string

// The steps, numbered as in the spec.
const (
	StepIPLiteral          Step = "1 ip literal"
	StepExplicitPort       Step = "2 explicit port"
	StepWellKnownIPLiteral Step = "3.1 well-known ip literal"
	StepWellKnownPort      Step = "3.2 well-known explicit port"
	StepWellKnownSRV       Step = "3.3 well-known srv _matrix-fed"
	StepWellKnownSRVLegacy Step = "3.4 well-known srv _matrix (deprecated)"
	StepWellKnownDefault   Step = "3.5 well-known default port"
	StepSRV                Step = "4 srv _matrix-fed"
	StepSRVLegacy          Step = "5 srv _matrix (deprecated)"
	StepDefaultPort        Step = "6 default port"
	srvServiceFed               = "matrix-fed"
	srvServiceLegacy            = "matrix"
	wellKnownNoDelegation       = ""
)

// Result says how to reach a server.
type Result struct {
	// ServerName is the name that was resolved (what X-Matrix signs).
	ServerName string
	// Addrs are the addresses to try, in order.
	Addrs []netip.AddrPort
	// Host is the value of the HTTP Host header.
	Host string
	// TLSName is what the server's certificate must be valid for: a DNS
	// name, sent as SNI, or an IP address, for which no SNI is sent (TLS
	// forbids IP literals in SNI) and the certificate must carry an IP
	// SAN. crypto/tls does both when tls.Config.ServerName is set to it.
	TLSName string
	// Delegated is the well-known m.server value used, or "".
	Delegated string
	// Step is the rule that decided.
	Step Step
}

// ErrNoAddress is wrapped when a server name resolves to no usable
// address.
var ErrNoAddress = errors.New("discovery: no address for server")

// Config configures a Resolver.
type Config struct {
	// DNS answers SRV and address lookups; nil means net.DefaultResolver.
	DNS DNS
	// WellKnown fetches /.well-known/matrix/server; nil skips step 3
	// (as if every fetch failed), which only tests should want.
	WellKnown WellKnownFetcher
	// Now is the clock for the well-known cache; nil means time.Now.
	Now func() time.Time
	// Jitter returns a random duration in [0, max); nil uses math/rand.
	// It spreads cache expiry so that many entries do not refetch at once.
	Jitter func(max time.Duration) time.Duration
	// Log receives debug lines about decisions; nil discards.
	Log *slog.Logger
	// MaxCacheEntries bounds the well-known and SRV caches (default 10000
	// each).
	MaxCacheEntries int
}

// Resolver resolves server names. It is safe for concurrent use and caches
// .well-known results (see WellKnownCache).
type Resolver struct {
	dns  DNS
	srv  *srvCache
	wk   *wellKnownCache
	log  *slog.Logger
	noWK bool
}

// New returns a Resolver.
func New(cfg Config) *Resolver {
	if cfg.DNS == nil {
		cfg.DNS = net.DefaultResolver
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxCacheEntries <= 0 {
		cfg.MaxCacheEntries = 10000
	}
	return &Resolver{
		dns:  cfg.DNS,
		srv:  newSRVCache(cfg.MaxCacheEntries, cfg.Now),
		wk:   newWellKnownCache(cfg),
		log:  cfg.Log,
		noWK: cfg.WellKnown == nil,
	}
}

// Resolve works out how to reach serverName (server-server API,
// "Resolving server names"). Errors wrap ErrNoAddress when the name
// resolves to nothing, ids.ErrInvalidServerName when it is not a server
// name, or the DNS error that stopped resolution.
func (r *Resolver) Resolve(ctx context.Context, serverName string) (*Result, error) {
	host, port, err := ids.ParseServerName(serverName)
	if err != nil {
		return nil, err
	}
	res := &Result{ServerName: serverName}

	// Step 1: an IP literal is used as it is; Host is the server name.
	if ids.IsIPLiteral(host) {
		return ipLiteral(res, host, port, serverName, StepIPLiteral)
	}
	// Step 2: a hostname with an explicit port: address records only.
	if port != 0 {
		res.Host, res.TLSName, res.Step = serverName, host, StepExplicitPort
		return r.lookupHost(ctx, res, host, port)
	}

	// Step 3: .well-known delegation.
	if !r.noWK {
		delegated, err := r.wk.lookup(ctx, host)
		if err != nil {
			// Only context cancellation ends up here: every other
			// failure is a (cached) "no delegation".
			return nil, err
		}
		if delegated != wellKnownNoDelegation {
			return r.resolveDelegated(ctx, res, delegated)
		}
	}

	// Steps 4–6 on the original hostname.
	res.Host, res.TLSName = host, host
	return r.srvOrDefault(ctx, res, host, StepSRV, StepSRVLegacy, StepDefaultPort)
}

// resolveDelegated applies steps 3.1–3.5 to a valid m.server value.
func (r *Resolver) resolveDelegated(ctx context.Context, res *Result, delegated string) (*Result, error) {
	res.Delegated = delegated
	dhost, dport, err := ids.ParseServerName(delegated)
	if err != nil {
		// The cache only stores valid names; this is a bug guard.
		return nil, fmt.Errorf("discovery: delegated name %q: %w", delegated, err)
	}
	// 3.1: Host is the IP address, with the port if one was given: the
	// m.server value itself.
	if ids.IsIPLiteral(dhost) {
		return ipLiteral(res, dhost, dport, delegated, StepWellKnownIPLiteral)
	}
	// 3.2: Host is <delegated_hostname>:<delegated_port>.
	if dport != 0 {
		res.Host, res.TLSName, res.Step = delegated, dhost, StepWellKnownPort
		return r.lookupHost(ctx, res, dhost, dport)
	}
	// 3.3–3.5: Host is <delegated_hostname>.
	res.Host, res.TLSName = dhost, dhost
	return r.srvOrDefault(ctx, res, dhost, StepWellKnownSRV, StepWellKnownSRVLegacy, StepWellKnownDefault)
}

// ipLiteral fills res for an IP address host (brackets optional).
func ipLiteral(res *Result, host string, port int, hostHeader string, step Step) (*Result, error) {
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		// ids accepts IPv4 octets with leading zeros ("010.0.0.1"), whose
		// meaning (octal or decimal) differs between resolvers; refuse
		// rather than guess.
		return nil, fmt.Errorf("%w: unsupported IP literal %q: %v", ErrNoAddress, host, err)
	}
	if port == 0 {
		port = DefaultPort
	}
	res.Addrs = []netip.AddrPort{netip.AddrPortFrom(addr.Unmap(), uint16(port))}
	res.Host, res.TLSName, res.Step = hostHeader, addr.Unmap().String(), step
	return res, nil
}

// srvOrDefault tries _matrix-fed._tcp, then _matrix._tcp, then port 8448
// on host (steps 3.3–3.5 or 4–6).
func (r *Resolver) srvOrDefault(ctx context.Context, res *Result, host string, stepFed, stepLegacy, stepDefault Step) (*Result, error) {
	for _, s := range []struct {
		service string
		step    Step
	}{{srvServiceFed, stepFed}, {srvServiceLegacy, stepLegacy}} {
		targets, err := r.lookupSRV(ctx, s.service, host)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrNoAddress) {
				return nil, err
			}
			// A failed SRV lookup (timeout, SERVFAIL) falls through to the
			// next step, as Synapse does: many resolvers answer SRV queries
			// badly, and the spec's steps only end at the address lookup.
			r.log.Debug("SRV lookup failed; trying the next step", "server_name", res.ServerName, "service", s.service, "err", err)
			continue
		}
		if len(targets) == 0 {
			continue
		}
		res.Step = s.step
		var errs []error
		for _, t := range targets {
			addrs, err := r.lookupAddrs(ctx, t.Target, int(t.Port))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res.Addrs = append(res.Addrs, addrs...)
		}
		if len(res.Addrs) == 0 {
			return nil, fmt.Errorf("%w: %s: SRV _%s._tcp.%s targets have no addresses: %w", ErrNoAddress, res.ServerName, s.service, host, errors.Join(errs...))
		}
		return res, nil
	}
	res.Step = stepDefault
	return r.lookupHost(ctx, res, host, DefaultPort)
}

// lookupSRV returns the SRV records of _service._tcp.host in the order the
// resolver gives them (net.Resolver sorts by priority and shuffles by
// weight, RFC 2782), through the cache. Not found is an empty list; other
// DNS failures are errors, which the caller treats as "no SRV records".
func (r *Resolver) lookupSRV(ctx context.Context, service, host string) ([]*net.SRV, error) {
	srvs, err := r.srv.lookup(ctx, r.dns, service, host)
	if err != nil {
		return nil, fmt.Errorf("discovery: SRV _%s._tcp.%s: %w", service, host, err)
	}
	out := srvs[:0:0]
	for _, s := range srvs {
		if s == nil {
			continue
		}
		if s.Target == "." || s.Target == "" {
			// RFC 2782: a lone "." target means the service is decidedly
			// not available at this domain.
			if len(srvs) == 1 {
				return nil, fmt.Errorf("%w: SRV _%s._tcp.%s says the service is not available", ErrNoAddress, service, host)
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// lookupHost resolves host's address records for res.
func (r *Resolver) lookupHost(ctx context.Context, res *Result, host string, port int) (*Result, error) {
	addrs, err := r.lookupAddrs(ctx, host, port)
	if err != nil {
		return nil, err
	}
	res.Addrs = addrs
	return res, nil
}

// lookupAddrs resolves host (CNAME, AAAA, A: the resolver follows CNAMEs)
// and pairs every address with port.
func (r *Resolver) lookupAddrs(ctx context.Context, host string, port int) ([]netip.AddrPort, error) {
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(host); err == nil {
		// An SRV target should be a name, but an address is unambiguous.
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), uint16(port))}, nil
	}
	ips, err := r.dns.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoAddress, host, err)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, netip.AddrPortFrom(a, uint16(port)))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has no A or AAAA records", ErrNoAddress, host)
	}
	return out, nil
}

// HostPort formats an address for net.Dial.
func HostPort(a netip.AddrPort) string {
	return net.JoinHostPort(a.Addr().String(), strconv.Itoa(int(a.Port())))
}

// statusError reports a non-200 well-known response.
type statusError int

func (s statusError) Error() string {
	return "HTTP status " + strconv.Itoa(int(s)) + " " + http.StatusText(int(s))
}
