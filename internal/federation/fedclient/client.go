// Package fedclient is the outbound HTTP client for federation: it finds
// the destination with server discovery, connects over TLS with the
// certificate checks the spec asks for, refuses addresses the IP guard
// blocks, signs every request with X-Matrix, bounds responses, and turns
// non-2xx answers into errors carrying the remote status and errcode.
package fedclient

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/federation/discovery"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Defaults for Config's zero values.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 20
)

var (
	// ErrDenied is wrapped when federation_domain_whitelist excludes the
	// destination; nothing was sent.
	ErrDenied = errors.New("fedclient: federation with this server is not allowed")
	// ErrResponseTooLarge is wrapped when a response body exceeds the
	// limit.
	ErrResponseTooLarge = errors.New("fedclient: response too large")
	// ErrBlocked is netguard.ErrBlocked: every address of the destination
	// is in a blocked range.
	ErrBlocked = netguard.ErrBlocked
	// ErrUnreachable is wrapped when no answer came: the destination
	// could not be resolved or connected to, TLS failed, or it did not
	// answer in time. Reason says which.
	ErrUnreachable = errors.New("fedclient: no answer")
	// ErrBadResponse is wrapped when a 2xx answer is not the JSON asked
	// for; callers that check an answer further wrap it too.
	ErrBadResponse = errors.New("fedclient: invalid response")
)

// Config configures a Client.
type Config struct {
	// ServerName and Key sign requests (the origin).
	ServerName string
	Key        signing.SigningKey
	// Guard decides which addresses may be dialed; nil means
	// netguard.New(nil, nil), the default blocklist.
	Guard *netguard.Guard
	// DomainWhitelist is federation_domain_whitelist (nil: any server).
	DomainWhitelist []string
	// InsecureSkipVerify turns certificate verification off
	// (federation_verify_certificates: false). Never in production.
	InsecureSkipVerify bool
	// RootCAs are the trusted authorities; nil means the system's. See
	// LoadCAPool for federation_custom_ca_list.
	RootCAs *x509.CertPool
	// DNS answers discovery's lookups; nil means net.DefaultResolver.
	DNS discovery.DNS
	// Resolver overrides discovery entirely (tests); nil builds one from
	// DNS and an HTTPS .well-known fetcher behind the same guard and TLS
	// settings.
	Resolver *discovery.Resolver
	// Timeout bounds a whole request when ctx has no earlier deadline.
	Timeout time.Duration
	// DialTimeout bounds each connection attempt, TLS handshake included.
	DialTimeout time.Duration
	// MaxResponseBytes bounds response bodies unless a Request says
	// otherwise.
	MaxResponseBytes int64
	// ResolutionTTL is how long a destination's discovery result is reused
	// (default 1 minute; negative disables). net.Resolver does not cache,
	// so without it every request would repeat the SRV and address
	// lookups. The .well-known step has its own, longer cache.
	ResolutionTTL time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	Log       *slog.Logger
}

// Client sends signed federation requests. It is safe for concurrent use;
// connections are pooled per destination server name.
type Client struct {
	cfg       Config
	cache     resolutionCache
	whitelist map[string]bool
	resolver  *discovery.Resolver
	transport *http.Transport
	http      *http.Client
	wkTrans   *http.Transport
	urlState
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if !ids.ValidServerName(cfg.ServerName) {
		return nil, fmt.Errorf("fedclient: server name %q is not valid", cfg.ServerName)
	}
	if cfg.Key.Public() == nil {
		return nil, errors.New("fedclient: a signing key is required")
	}
	if cfg.Guard == nil {
		cfg.Guard = netguard.New(nil, nil)
	}
	if cfg.DNS == nil {
		cfg.DNS = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.ResolutionTTL == 0 {
		cfg.ResolutionTTL = time.Minute
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Myelin"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, cache: resolutionCache{entries: map[string]cachedResolution{}}}
	if cfg.DomainWhitelist != nil {
		c.whitelist = make(map[string]bool, len(cfg.DomainWhitelist))
		for _, d := range cfg.DomainWhitelist {
			c.whitelist[d] = true
		}
	}
	c.wkTrans = c.newWellKnownTransport()
	c.resolver = cfg.Resolver
	if c.resolver == nil {
		c.resolver = discovery.New(discovery.Config{
			DNS:       cfg.DNS,
			WellKnown: discovery.NewHTTPFetcher(c.wkTrans, cfg.UserAgent, cfg.Timeout),
			Log:       cfg.Log,
		})
	}
	c.transport = c.newFederationTransport()
	c.http = &http.Client{
		Transport: c.transport,
		// Federation API responses are never followed to another place:
		// a redirect is an answer like any other non-2xx status.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Resolver returns the server discovery the client uses.
func (c *Client) Resolver() *discovery.Resolver { return c.resolver }

// ServerName is the origin the client signs as.
func (c *Client) ServerName() string { return c.cfg.ServerName }

// Allowed reports whether federation_domain_whitelist permits destination.
func (c *Client) Allowed(destination string) bool {
	return c.whitelist == nil || c.whitelist[destination]
}

// CloseIdleConnections closes pooled connections (at shutdown).
func (c *Client) CloseIdleConnections() {
	c.transport.CloseIdleConnections()
	c.wkTrans.CloseIdleConnections()
	c.urlClient() // builds it if need be: reading urlTrans bare would race
	c.urlTrans.CloseIdleConnections()
}

// Request is one federation request.
type Request struct {
	Method      string
	Destination string
	// Path is the escaped path from "/_matrix/..." with an optional
	// "?query": exactly what is sent and signed.
	Path string
	// Body is the JSON body; nil sends none (PUT and POST then send "{}",
	// as the spec requires a JSON object for them).
	Body []byte
	// MaxResponseBytes overrides Config.MaxResponseBytes when positive.
	MaxResponseBytes int64
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is a non-2xx answer from the destination.
type Error struct {
	Destination string
	Status      int
	// Errcode and Message come from a Matrix error body, when there was
	// one.
	Errcode string
	Message string
	// RetryAfter is from Retry-After or retry_after_ms on a 429.
	RetryAfter time.Duration
	Body       []byte
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fedclient: %s answered %d", e.Destination, e.Status)
	if e.Errcode != "" {
		s += " " + e.Errcode
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// StatusOf returns the HTTP status of a remote error, or 0 when err is not
// an answer from the destination (network failure, denied, blocked...).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Get sends a signed GET and decodes the JSON response into out (which may
// be nil, or a *json.RawMessage to keep the bytes).
func (c *Client) Get(ctx context.Context, destination, path string, out any) error {
	return c.doJSON(ctx, http.MethodGet, destination, path, nil, out)
}

// Put sends body as JSON with a signed PUT and decodes the response.
func (c *Client) Put(ctx context.Context, destination, path string, body, out any) error {
	return c.doJSON(ctx, http.MethodPut, destination, path, body, out)
}

// Post sends body as JSON with a signed POST and decodes the response.
func (c *Client) Post(ctx context.Context, destination, path string, body, out any) error {
	return c.doJSON(ctx, http.MethodPost, destination, path, body, out)
}

func (c *Client) doJSON(ctx context.Context, method, destination, path string, body, out any) error {
	var raw []byte
	if body != nil {
		if b, ok := body.([]byte); ok {
			raw = b
		} else if b, ok := body.(json.RawMessage); ok {
			raw = b
		} else {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return fmt.Errorf("fedclient: encoding request body: %w", err)
			}
		}
	}
	resp, err := c.Do(ctx, Request{Method: method, Destination: destination, Path: path, Body: raw})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return decodeJSON(destination, resp.Body, out)
}

// decodeJSON checks a response with canonicaljson's lenient rules first
// (duplicate keys, invalid UTF-8 and excessive depth are refused, which
// encoding/json alone would let through) and then decodes it.
func decodeJSON(destination string, body []byte, out any) error {
	if err := canonicaljson.Valid(body, canonicaljson.LenientOptions); err != nil {
		return fmt.Errorf("%w: %s sent invalid JSON: %w", ErrBadResponse, destination, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s sent unexpected JSON: %w", ErrBadResponse, destination, err)
	}
	return nil
}

// Do sends a signed request and returns the 2xx response with its body
// read (bounded). Non-2xx answers are *Error.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	sr, err := c.Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer sr.Body.Close()
	limit := c.limit(req)
	if sr.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s sent %d bytes (limit %d)", ErrResponseTooLarge, req.Destination, sr.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(sr.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fedclient: reading response from %s: %w", req.Destination, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s sent more than %d bytes", ErrResponseTooLarge, req.Destination, limit)
	}
	return &Response{Status: sr.Status, Header: sr.Header, Body: data}, nil
}

func (c *Client) limit(req Request) int64 {
	if req.MaxResponseBytes > 0 {
		return req.MaxResponseBytes
	}
	return c.cfg.MaxResponseBytes
}

// StreamResponse is a 2xx answer whose body the caller reads (and must
// close): for media, which is too large to hold in memory.
type StreamResponse struct {
	Status        int
	Header        http.Header
	ContentLength int64
	Body          io.ReadCloser
}

// maxErrorBody bounds the body of a non-2xx answer to Stream.
const maxErrorBody = 64 << 10

// Stream sends a signed request and returns the 2xx response with its
// body unread; the caller bounds what it reads. The request's timeout
// (Config.Timeout unless ctx has an earlier deadline) runs until the body
// is closed. Non-2xx answers are *Error.
func (c *Client) Stream(ctx context.Context, req Request) (*StreamResponse, error) {
	if !ids.ValidServerName(req.Destination) {
		return nil, fmt.Errorf("fedclient: destination %q is not a server name", req.Destination)
	}
	if !c.Allowed(req.Destination) {
		return nil, fmt.Errorf("%w: %s is not in federation_domain_whitelist", ErrDenied, req.Destination)
	}
	u, err := url.ParseRequestURI(req.Path)
	if err != nil || !strings.HasPrefix(req.Path, "/") || u.Host != "" {
		return nil, fmt.Errorf("fedclient: bad request path %q", req.Path)
	}
	body := req.Body
	if body == nil && (req.Method == http.MethodPut || req.Method == http.MethodPost) {
		body = []byte("{}")
	}
	stop := func() {}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		ctx, stop = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	ok := false
	defer func() {
		if !ok {
			stop()
		}
	}()
	res, err := c.resolve(ctx, req.Destination)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %s: %w", ErrUnreachable, req.Destination, err)
	}

	target := &url.URL{Scheme: "https", Host: urlHost(req.Destination), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	// What the signature covers is exactly the request-target net/http
	// writes: target.RequestURI().
	auth, err := xmatrix.Sign(xmatrix.Request{
		Method: req.Method, URI: target.RequestURI(),
		Origin: c.cfg.ServerName, Destination: req.Destination, Content: body,
	}, c.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("fedclient: signing request: %w", err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(withResolution(ctx, res), req.Method, target.String(), rd)
	if err != nil {
		return nil, err
	}
	hreq.URL = target
	hreq.Host = res.Host
	hreq.Header.Set("Authorization", auth.String())
	hreq.Header.Set("User-Agent", c.cfg.UserAgent)
	hreq.Header.Set("Accept", "application/json")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}

	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s%s: %w", ErrUnreachable, req.Method, req.Destination, redactQuery(target), unwrapURLError(err))
	}
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		defer hresp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(hresp.Body, min(c.limit(req), maxErrorBody)))
		if err != nil {
			return nil, fmt.Errorf("fedclient: reading response from %s: %w", req.Destination, err)
		}
		return nil, remoteError(req.Destination, hresp, data)
	}
	ok = true
	return &StreamResponse{Status: hresp.StatusCode, Header: hresp.Header, ContentLength: hresp.ContentLength,
		Body: &stopOnClose{ReadCloser: hresp.Body, stop: stop}}, nil
}

// stopOnClose ends a streamed request's timeout when its body is closed.
type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (s *stopOnClose) Close() error {
	err := s.ReadCloser.Close()
	s.stop()
	return err
}

// remoteError builds an *Error from a non-2xx answer.
func remoteError(dest string, resp *http.Response, body []byte) *Error {
	e := &Error{Destination: dest, Status: resp.StatusCode, Body: body}
	var m struct {
		Errcode      string `json:"errcode"`
		Error        string `json:"error"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	if json.Unmarshal(body, &m) == nil {
		e.Errcode, e.Message = m.Errcode, m.Error
		if m.RetryAfterMS > 0 {
			e.RetryAfter = time.Duration(m.RetryAfterMS) * time.Millisecond
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	if len(e.Message) > 512 {
		e.Message = e.Message[:512] + "…"
	}
	return e
}

// urlHost is the URL host that stands for a destination server name in
// the transport: the name itself, with port 0 when it has no port, so that
// "example.org" (discovery with .well-known and SRV) and "example.org:443"
// (port 443 directly) get different connection pools and the dialer can
// tell them apart. Explicit ports are 1–65535, so 0 is free to mean "none".
func urlHost(serverName string) string {
	_, port, err := ids.ParseServerName(serverName)
	if err == nil && port == 0 {
		return serverName + ":0"
	}
	return serverName
}

// serverNameFromAddr undoes urlHost on the "host:port" the transport hands
// the dialer.
func serverNameFromAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "0" {
		return host, nil
	}
	return host + ":" + port, nil
}

// redactQuery drops the query from a URL for error messages: queries may
// carry user IDs or tokens.
func redactQuery(u *url.URL) string {
	return u.EscapedPath()
}

// unwrapURLError drops *url.Error's wrapping, whose text repeats the
// internal URL (with its port 0).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
