package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/ids"
)

// Well-known cache periods. The spec recommends a 24-hour default, a
// 48-hour maximum and caching errors "for up to an hour" with exponential
// back-off; the other values are the ones Synapse documents in its
// well-known resolver.
const (
	// WellKnownDefaultTTL applies when the response has no caching headers.
	WellKnownDefaultTTL = 24 * time.Hour
	// WellKnownMaxTTL and WellKnownMinTTL bound what headers may ask for
	// (Synapse's lower bound stops "no-store" or max-age=0 from making us
	// fetch on every request).
	WellKnownMaxTTL = 48 * time.Hour
	WellKnownMinTTL = 5 * time.Minute
	// WellKnownInvalidTTL is how long a failed or invalid lookup is
	// cached when the domain had no valid well-known recently.
	WellKnownInvalidTTL = time.Hour
	// WellKnownDownTTL is the first back-off step when a domain that
	// recently had a valid well-known fails: it is probably a transient
	// outage, so we look again soon. It doubles with each consecutive
	// failure up to WellKnownInvalidTTL.
	WellKnownDownTTL = 2 * time.Minute
	// WellKnownRememberValid is how long after a valid result expires a
	// domain still counts as "had a valid well-known".
	WellKnownRememberValid = 2 * time.Hour
	// WellKnownMaxBody bounds the response body (Synapse: 50 KiB).
	WellKnownMaxBody = 50 << 10
	// WellKnownMaxRedirects bounds redirect chains, which also ends loops.
	WellKnownMaxRedirects = 5
	// wellKnownJitter is the fraction of a TTL added at random (Synapse:
	// 10%), so entries fetched together do not all expire together.
	wellKnownJitter = 0.1
)

// WellKnownResponse is a fetched /.well-known/matrix/server response: the
// final one after redirects.
type WellKnownResponse struct {
	StatusCode int
	Header     http.Header
	// Body is at most WellKnownMaxBody bytes; a longer body is an error
	// from the fetcher.
	Body []byte
}

// WellKnownFetcher performs GET https://<hostname>/.well-known/matrix/server.
// An error means no response was obtained (connection, TLS, timeout,
// too many redirects, body too large); a non-200 response is not an error.
type WellKnownFetcher interface {
	FetchWellKnown(ctx context.Context, hostname string) (*WellKnownResponse, error)
}

// ParseWellKnown validates a well-known response and returns its m.server
// value. The body is read as JSON whatever the Content-Type says, as the
// spec asks; the value must be a valid server name (appendices, "Server
// Name"), with an optional port.
func ParseWellKnown(resp *WellKnownResponse) (string, error) {
	if resp.StatusCode != http.StatusOK {
		return "", statusError(resp.StatusCode)
	}
	if err := canonicaljson.Valid(resp.Body, canonicaljson.LenientOptions); err != nil {
		return "", fmt.Errorf("body is not JSON: %w", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return "", fmt.Errorf("body is not a JSON object")
	}
	raw, ok := body["m.server"]
	if !ok {
		return "", errors.New(`no "m.server" property`)
	}
	var server string
	if err := json.Unmarshal(raw, &server); err != nil {
		return "", errors.New(`"m.server" is not a string`)
	}
	if _, _, err := ids.ParseServerName(server); err != nil {
		return "", fmt.Errorf(`"m.server": %w`, err)
	}
	return server, nil
}

// wellKnownEntry is one cached lookup.
type wellKnownEntry struct {
	delegated string // "" = no delegation (failure or invalid)
	expires   time.Time
	// validUntil is when the last valid result expired (or will); it
	// decides whether a failure looks like an outage.
	validUntil time.Time
	// failures counts consecutive failed lookups, for back-off.
	failures int
}

type wellKnownCache struct {
	fetch  WellKnownFetcher
	now    func() time.Time
	jitter func(time.Duration) time.Duration
	log    interface {
		Debug(msg string, args ...any)
	}
	max int

	mu       sync.Mutex
	entries  map[string]*wellKnownEntry
	inflight map[string]*wellKnownCall
}

type wellKnownCall struct {
	done      chan struct{}
	delegated string
}

func newWellKnownCache(cfg Config) *wellKnownCache {
	return &wellKnownCache{
		fetch: cfg.WellKnown, now: cfg.Now, jitter: cfg.Jitter, log: cfg.Log, max: cfg.MaxCacheEntries,
		entries:  map[string]*wellKnownEntry{},
		inflight: map[string]*wellKnownCall{},
	}
}

// lookup returns the cached or freshly fetched delegation for hostname;
// "" means none (no valid well-known). Concurrent lookups of one hostname
// share a single fetch. The only error is ctx's.
func (c *wellKnownCache) lookup(ctx context.Context, hostname string) (string, error) {
	c.mu.Lock()
	if e, ok := c.entries[hostname]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.delegated, nil
	}
	call, running := c.inflight[hostname]
	if !running {
		call = &wellKnownCall{done: make(chan struct{})}
		c.inflight[hostname] = call
	}
	c.mu.Unlock()

	if !running {
		// The fetch is detached from the first caller's cancellation so
		// that its result serves everyone waiting; the fetcher bounds it
		// with its own timeout.
		go c.run(context.WithoutCancel(ctx), hostname, call)
	}
	select {
	case <-call.done:
		return call.delegated, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *wellKnownCache) run(ctx context.Context, hostname string, call *wellKnownCall) {
	delegated, ttl, err := c.fetchOnce(ctx, hostname)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e := c.entries[hostname]
	if e == nil {
		e = &wellKnownEntry{}
	}
	if err == nil {
		e.delegated, e.failures = delegated, 0
		e.expires = now.Add(ttl)
		e.validUntil = e.expires
	} else {
		e.delegated = wellKnownNoDelegation
		e.failures++
		ttl := WellKnownInvalidTTL
		if now.Before(e.validUntil.Add(WellKnownRememberValid)) {
			// A domain that just had a valid well-known is probably
			// having an outage: look again soon, backing off
			// exponentially as the spec encourages.
			ttl = WellKnownDownTTL << min(e.failures-1, 10)
			ttl = min(ttl, WellKnownInvalidTTL)
		}
		e.expires = now.Add(ttl + c.jitter(time.Duration(float64(ttl)*wellKnownJitter)))
		c.log.Debug("well-known lookup failed", "host", hostname, "err", err, "retry_in", ttl)
	}
	c.store(hostname, e, now)
	delete(c.inflight, hostname)
	call.delegated = e.delegated
	close(call.done)
}

// fetchOnce fetches and validates hostname's well-known and works out how
// long to cache a valid result.
func (c *wellKnownCache) fetchOnce(ctx context.Context, hostname string) (string, time.Duration, error) {
	resp, err := c.fetch.FetchWellKnown(ctx, hostname)
	if err != nil {
		return "", 0, err
	}
	delegated, err := ParseWellKnown(resp)
	if err != nil {
		return "", 0, err
	}
	ttl, fromHeaders := cachePeriod(resp.Header, c.now())
	if fromHeaders {
		ttl = min(max(ttl, WellKnownMinTTL), WellKnownMaxTTL)
	} else {
		ttl += c.jitter(time.Duration(float64(ttl) * wellKnownJitter))
	}
	return delegated, ttl, nil
}

// store adds e, evicting expired entries (and then arbitrary ones) when
// the cache is full, so a flood of distinct names cannot grow it without
// bound. Called with c.mu held.
func (c *wellKnownCache) store(hostname string, e *wellKnownEntry, now time.Time) {
	if _, ok := c.entries[hostname]; !ok && len(c.entries) >= c.max {
		for h, old := range c.entries {
			if !now.Before(old.expires.Add(WellKnownRememberValid)) {
				delete(c.entries, h)
			}
		}
		for h := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, h)
		}
	}
	c.entries[hostname] = e
}

// cachePeriod reads how long the response may be cached from
// Cache-Control (no-store, max-age) or Expires. ok is false when neither
// says, and the default applies.
func cachePeriod(h http.Header, now time.Time) (period time.Duration, ok bool) {
	if cc := h.Values("Cache-Control"); len(cc) > 0 {
		maxAge, hasMaxAge := time.Duration(0), false
		for _, line := range cc {
			for _, d := range strings.Split(line, ",") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "no-store":
					return 0, true
				case "max-age":
					n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
					if err == nil && n >= 0 {
						maxAge, hasMaxAge = time.Duration(min(n, int64(WellKnownMaxTTL/time.Second)))*time.Second, true
					}
				}
			}
		}
		if hasMaxAge {
			return maxAge, true
		}
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			// RFC 9111 5.3: an invalid Expires means already expired.
			return 0, true
		}
		return max(t.Sub(now), 0), true
	}
	return WellKnownDefaultTTL, false
}

// HTTPFetcher is the real WellKnownFetcher: an HTTPS GET following at most
// WellKnownMaxRedirects redirects, only to https URLs, with the body
// bounded by WellKnownMaxBody.
type HTTPFetcher struct {
	client    *http.Client
	userAgent string
}

// NewHTTPFetcher returns a fetcher using transport, which must verify TLS
// certificates as configured and dial through the IP guard (fedclient
// builds one). timeout bounds each fetch including redirects (0 means 30
// seconds).
func NewHTTPFetcher(transport http.RoundTripper, userAgent string, timeout time.Duration) *HTTPFetcher {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &HTTPFetcher{
		userAgent: userAgent,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > WellKnownMaxRedirects {
					return fmt.Errorf("more than %d redirects", WellKnownMaxRedirects)
				}
				if req.URL.Scheme != "https" {
					return fmt.Errorf("redirect to a non-https URL %s", req.URL.Redacted())
				}
				return nil
			},
		},
	}
}

// FetchWellKnown implements WellKnownFetcher.
func (f *HTTPFetcher) FetchWellKnown(ctx context.Context, hostname string) (*WellKnownResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostname+"/.well-known/matrix/server", nil)
	if err != nil {
		return nil, err
	}
	if f.userAgent != "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, WellKnownMaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > WellKnownMaxBody {
		return nil, fmt.Errorf("body larger than %d bytes", WellKnownMaxBody)
	}
	return &WellKnownResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
