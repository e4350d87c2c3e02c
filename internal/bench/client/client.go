// Package client is the minimal Matrix client the load tool drives servers
// with. It speaks only the Client-Server API over plain HTTP and JSON (no
// server packages), so the tool can measure any homeserver that offers
// open registration (m.login.dummy) or Synapse's shared-secret registration.
//
// One Conn (base URL plus one shared http.Transport) serves every simulated
// user, as it would in a load generator: thousands of users need thousands
// of concurrent connections, not thousands of transports.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Conn is one server: its base URL and the shared HTTP client. It is safe
// for concurrent use.
type Conn struct {
	// URL is the server's base URL without a trailing slash.
	URL string
	// HTTP sends every request. Its Timeout should be 0: requests carry
	// their own deadlines (RequestTimeout, or the long-poll plus that).
	HTTP *http.Client
	// RequestTimeout bounds each request (default 60 s).
	RequestTimeout time.Duration
	// MaxRetries bounds retries of a request refused with 429
	// M_LIMIT_EXCEEDED (default 5; negative disables retries).
	MaxRetries int

	requests    atomic.Int64
	rateLimited atomic.Int64
}

// NewTransport returns a transport for up to maxConns concurrent requests
// to one host, all kept alive between requests. Proxies from the
// environment are ignored: the tool talks to the URL it was given.
func NewTransport(maxConns int) *http.Transport {
	if maxConns < 1 {
		maxConns = 1
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxConns,
		MaxIdleConnsPerHost:   maxConns,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // long-polls answer late by design; contexts bound requests
	}
}

// NewConn returns a Conn for baseURL with its own transport for maxConns
// concurrent requests.
func NewConn(baseURL string, maxConns int) *Conn {
	return &Conn{URL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: NewTransport(maxConns)}}
}

// Counters are totals over the Conn's life.
type Counters struct {
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rate_limited"` // 429 answers (each retried after the server's delay)
}

// Counters returns the totals so far.
func (c *Conn) Counters() Counters {
	return Counters{Requests: c.requests.Load(), RateLimited: c.rateLimited.Load()}
}

// Close drops idle connections.
func (c *Conn) Close() { c.HTTP.CloseIdleConnections() }

// Error is a non-2xx answer.
type Error struct {
	Method, Path string
	Status       int
	Errcode      string
	Message      string
	RetryAfter   time.Duration
	// Body is the raw answer (a UIA 401 carries the session in it).
	Body []byte
}

func (e *Error) Error() string {
	msg := e.Message
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf("%s %s: HTTP %d %s %s", e.Method, e.Path, e.Status, e.Errcode, msg)
}

// Errcode returns the Matrix errcode of err, or "".
func Errcode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Errcode
	}
	return ""
}

func (c *Conn) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return 60 * time.Second
}

func (c *Conn) maxRetries() int {
	switch {
	case c.MaxRetries < 0:
		return 0
	case c.MaxRetries == 0:
		return 5
	}
	return c.MaxRetries
}

// maxRetryWait caps a server's retry_after_ms, so a misconfigured limit
// cannot stall a run for long.
const maxRetryWait = 5 * time.Second

// reply is a successful answer.
type reply struct {
	body []byte
	// done is when the last byte of the body was read: the moment a
	// client would have the data.
	done time.Time
}

// do sends a request with a JSON body (nil for none) and returns the body
// of a 2xx answer. extra lengthens the deadline (for long-polls).
func (c *Conn) do(ctx context.Context, method, path, token string, body any, extra time.Duration) (reply, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return reply{}, err
		}
	}
	for attempt := 0; ; attempt++ {
		r, err := c.once(ctx, method, path, token, raw, extra)
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || attempt >= c.maxRetries() {
			return r, err
		}
		c.rateLimited.Add(1)
		wait := min(max(e.RetryAfter, 10*time.Millisecond), maxRetryWait)
		select {
		case <-ctx.Done():
			return reply{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *Conn) once(ctx context.Context, method, path, token string, raw []byte, extra time.Duration) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout()+extra)
	defer cancel()
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return reply{}, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c.requests.Add(1)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	// Bounded: an initial /sync of a large account is big, but not this big.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	done := time.Now()
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading body: %w", method, redactPath(path), err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Method: method, Path: redactPath(path), Status: resp.StatusCode, Message: string(body), Body: body}
		var m struct {
			Errcode    string `json:"errcode"`
			Error      string `json:"error"`
			RetryAfter int64  `json:"retry_after_ms"`
		}
		if json.Unmarshal(body, &m) == nil {
			e.Errcode, e.Message, e.RetryAfter = m.Errcode, m.Error, time.Duration(m.RetryAfter)*time.Millisecond
		}
		return reply{}, e
	}
	return reply{body: body, done: done}, nil
}

// redactPath drops the query (which may hold a filter or a token) from
// paths shown in errors.
func redactPath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// call is do plus decoding the answer into out (if not nil).
func (c *Conn) call(ctx context.Context, method, path, token string, body, out any) error {
	r, err := c.do(ctx, method, path, token, body, 0)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, redactPath(path), err)
	}
	return nil
}

// Versions returns the spec versions the server supports; it needs no
// account, so it tells whether the server is up.
func (c *Conn) Versions(ctx context.Context) ([]string, error) {
	var v struct {
		Versions []string `json:"versions"`
	}
	err := c.call(ctx, "GET", "/_matrix/client/versions", "", nil, &v)
	return v.Versions, err
}

// WaitUp polls /versions until the server answers or bound passes.
func (c *Conn) WaitUp(ctx context.Context, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Versions(short)
		cancelShort()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s not up after %v: %w", c.URL, bound, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
