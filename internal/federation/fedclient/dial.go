package fedclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/discovery"
)

type resolutionKey struct{}

// withResolution passes the discovery result to the dialer, so that a
// connection opened for a request uses the same resolution as its Host
// header.
func withResolution(ctx context.Context, r *discovery.Result) context.Context {
	return context.WithValue(ctx, resolutionKey{}, r)
}

// maxCachedResolutions bounds the resolution cache.
const maxCachedResolutions = 10000

type cachedResolution struct {
	res     *discovery.Result
	expires time.Time
}

type resolutionCache struct {
	mu      sync.Mutex
	entries map[string]cachedResolution
}

// resolve returns dest's discovery result, reusing one younger than
// ResolutionTTL. Failures are not cached: the caller's retry policy (the
// federation sender's back-off) paces them.
func (c *Client) resolve(ctx context.Context, dest string) (*discovery.Result, error) {
	now := time.Now()
	if c.cfg.ResolutionTTL > 0 {
		c.cache.mu.Lock()
		e, ok := c.cache.entries[dest]
		c.cache.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.res, nil
		}
	}
	res, err := c.resolver.Resolve(ctx, dest)
	if err != nil || c.cfg.ResolutionTTL <= 0 {
		return res, err
	}
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	if len(c.cache.entries) >= maxCachedResolutions {
		for k, e := range c.cache.entries {
			if !now.Before(e.expires) || len(c.cache.entries) >= maxCachedResolutions {
				delete(c.cache.entries, k)
			}
		}
	}
	c.cache.entries[dest] = cachedResolution{res: res, expires: now.Add(c.cfg.ResolutionTTL)}
	return res, nil
}

// tlsConfig is the base TLS configuration for every federation connection
// (the API and .well-known alike).
func (c *Client) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            c.cfg.RootCAs,
		InsecureSkipVerify: c.cfg.InsecureSkipVerify, // federation_verify_certificates: false
		NextProtos:         []string{"http/1.1"},
	}
}

// guardedDialer dials TCP through the IP guard: its Control runs on the
// address actually connected to.
func (c *Client) guardedDialer() *net.Dialer {
	return c.cfg.Guard.Dialer(&net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second})
}

// newFederationTransport is the transport for the federation API: URLs
// carry the destination server name (see urlHost), and DialTLSContext
// turns it into connections with discovery's addresses and TLS name.
func (c *Client) newFederationTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // we choose the address; a proxy would undo the guard
		DialTLSContext:        c.dialTLS,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: c.cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    false,
	}
}

// dialTLS connects to a destination: it resolves the server name (or uses
// the resolution the request carries), tries each address the guard
// allows in order, and completes a TLS handshake that checks the
// certificate against discovery's TLS name. For an IP address name no SNI
// is sent and the certificate must hold that IP (crypto/tls does both
// when ServerName is an IP literal), as the spec's TLS section asks.
func (c *Client) dialTLS(ctx context.Context, _, addr string) (net.Conn, error) {
	dest, err := serverNameFromAddr(addr)
	if err != nil {
		return nil, err
	}
	res, _ := ctx.Value(resolutionKey{}).(*discovery.Result)
	if res == nil || res.ServerName != dest {
		if res, err = c.resolve(ctx, dest); err != nil {
			return nil, err
		}
	}
	conf := c.tlsConfig()
	conf.ServerName = res.TLSName
	dialer := c.guardedDialer()
	var errs []error
	for _, a := range res.Addrs {
		if err := c.cfg.Guard.Check(a.Addr()); err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := c.dialOne(ctx, dialer, conf, discovery.HostPort(a))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: %s", discovery.ErrNoAddress, dest)
	}
	return nil, errors.Join(errs...)
}

func (c *Client) dialOne(ctx context.Context, d *net.Dialer, conf *tls.Config, hostPort string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	raw, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS with %s: %w", hostPort, err)
	}
	return conn, nil
}

// newWellKnownTransport is an ordinary HTTPS transport for
// /.well-known/matrix/server, with our TLS settings, whose dials resolve
// names with the configured DNS and connect through the guard, so that
// redirects cannot reach a blocked address either.
func (c *Client) newWellKnownTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           c.dialViaDNS,
		TLSClientConfig:       c.tlsConfig(),
		TLSHandshakeTimeout:   c.cfg.DialTimeout,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: c.cfg.Timeout,
	}
}

// dialViaDNS resolves addr's host with the configured DNS and dials the
// addresses in turn through the guard.
func (c *Client) dialViaDNS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := c.cfg.DNS.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	d := c.guardedDialer()
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), strconv.Itoa(port)))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: %s", discovery.ErrNoAddress, host)
	}
	return nil, errors.Join(errs...)
}

// LoadCAPool reads federation_custom_ca_list: PEM files of the authorities
// to trust for federation. As Synapse documents for this option, the list
// replaces the operating system's authorities rather than adding to them
// (it is meant for private federations and tests). No files gives nil,
// which means the system's.
func LoadCAPool(paths []string) (*x509.CertPool, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	for _, p := range paths {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("federation_custom_ca_list: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("federation_custom_ca_list: %s holds no PEM certificate", p)
		}
	}
	return pool, nil
}
