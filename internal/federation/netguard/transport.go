package netguard

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Transport returns the http.Transport of a client whose connections dial
// opens (a Guard's Dialer, or one that chooses between it and trusted
// addresses). It uses no proxy, which would dial out of the guard's sight,
// and bounds the TLS handshake and the wait for response headers by
// timeout. tlsConf may be nil (the system's roots).
func Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration,
	idlePerHost int, tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       time.Minute,
		ForceAttemptHTTP2:     true,
	}
}

// NoRedirects is an http.Client's CheckRedirect for services that answer
// rather than send us elsewhere (push gateways, appservices, identity
// servers): the redirect itself is the response, and nothing is dialed
// beyond the host the request named.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
