package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Router.
type Options struct {
	// Logger receives one line per request and panic reports. nil discards.
	Logger *slog.Logger
	// Metrics, when set, gets the request count and duration collectors.
	// Use a registry of your own, not prometheus.DefaultRegisterer, so that
	// tests and several routers in one process do not collide. Routers
	// sharing a registry share the collectors.
	Metrics prometheus.Registerer
	// TrustForwardedFor takes the client address from X-Forwarded-For
	// (Synapse's x_forwarded listener option), for deployments behind a
	// reverse proxy. Only enable it when a proxy always sets the header.
	TrustForwardedFor bool
	// Now is the clock for request durations; nil means time.Now.
	Now func() time.Time
}

// Router dispatches requests with a Go 1.22+ http.ServeMux (patterns like
// "GET /_matrix/client/v3/login" with {wildcards}) and adds what every
// Matrix API needs around it:
//
//   - unknown paths get 404 and known paths with the wrong method 405, both
//     as JSON M_UNRECOGNIZED (client-server-api, "Common error codes");
//   - CORS headers on every response, and OPTIONS answered with 204 without
//     running any endpoint logic (client-server-api, "Web Browser Clients");
//   - one log line per request (method, path with access tokens redacted,
//     status, duration, user when known, internal error detail);
//   - panics become 500 M_UNKNOWN with the stack logged;
//   - request count and duration metrics by route pattern and status.
type Router struct {
	mux      *http.ServeMux
	log      *slog.Logger
	metrics  *metrics
	trustXFF bool
	now      func() time.Time
}

// NewRouter returns an empty Router.
func NewRouter(opts Options) *Router {
	rt := &Router{
		mux:      http.NewServeMux(),
		log:      opts.Logger,
		trustXFF: opts.TrustForwardedFor,
		now:      opts.Now,
	}
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	if rt.now == nil {
		rt.now = time.Now
	}
	if opts.Metrics != nil {
		rt.metrics = newMetrics(opts.Metrics)
	}
	return rt
}

// Handle registers h for pattern ("METHOD /path/{wildcard}"). It panics on
// an invalid or conflicting pattern, as http.ServeMux does: that is a bug
// found at start-up. Before h runs, every path parameter and query
// parameter is checked (valid UTF-8, no NUL, path parameters at most
// MaxPathParam bytes); see text.go.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, checkRequestText(pattern, h))
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// corsHeaders are the values client-server-api "Web Browser Clients"
// recommends, sent on every response.
var corsHeaders = [][2]string{
	{"Access-Control-Allow-Origin", "*"},
	{"Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"},
	{"Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization"},
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rt.now()
	info := &requestInfo{clientIP: clientIP(r, rt.trustXFF), userAgent: UserAgent(r)}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	sw := &statusWriter{ResponseWriter: w, req: r, info: info}

	h := sw.Header()
	for _, kv := range corsHeaders {
		h.Set(kv[0], kv[1])
	}

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			rt.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !sw.wroteHeader {
				writeMatrixError(sw, internalError())
			}
			if info.err == nil {
				info.err = fmt.Errorf("panic: %v", p)
			}
		}
		rt.finish(sw, r, start)
	}()

	if r.Method == http.MethodOptions {
		// The spec forbids running endpoint logic for OPTIONS; the CORS
		// headers are all a browser's pre-flight needs.
		sw.WriteHeader(http.StatusNoContent)
		return
	}
	rt.mux.ServeHTTP(sw, r)
}

func (rt *Router) finish(sw *statusWriter, r *http.Request, start time.Time) {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	dur := rt.now().Sub(start)
	route := r.Pattern
	switch {
	case r.Method == http.MethodOptions:
		route = "OPTIONS"
	case route == "":
		route = "unmatched"
	}
	if rt.metrics != nil {
		rt.metrics.observe(route, status, dur)
	}

	// Every request is logged at debug; what an operator should see at
	// info or above is a client error (info), a slow answer (warn) or a
	// server error (warn when another server failed us, else error).
	level := slog.LevelDebug
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", redactedURI(r.URL)),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
		slog.String("ip", sw.info.clientIP),
	}
	if sw.info.userID != "" {
		attrs = append(attrs, slog.String("user", sw.info.userID))
	}
	switch {
	case status >= 400:
		level = slog.LevelInfo
	case dur >= slowRequest && !longPoll(route):
		level = slog.LevelWarn
		attrs = append(attrs, slog.Bool("slow", true))
	}
	if err := sw.info.err; err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
		switch {
		case upstreamFailure(status):
			level = slog.LevelWarn
		case status >= 500 && !errors.Is(err, context.Canceled):
			level = slog.LevelError
		}
	}
	rt.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// slowRequest is how long an answer may take before its log line is a
// warning.
const slowRequest = time.Second

// longPoll reports whether a route waits by design (/sync, /events), so
// that its duration says nothing about the server's health.
func longPoll(route string) bool {
	return strings.HasSuffix(route, "/sync") || strings.HasSuffix(route, "/events")
}

// requestInfo travels in the request context so that inner layers can add
// to the request's log line.
type requestInfo struct {
	clientIP  string
	userAgent string
	userID    string
	err       error
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// ClientIP returns the client's address as the Router determined it (from
// X-Forwarded-For when trusted), or the request's remote host otherwise.
func ClientIP(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil {
		return info.clientIP
	}
	return clientIP(r, false)
}

// ClientIPFromContext is ClientIP for code that only has the context of a
// request that went through a Router; "" otherwise.
func ClientIPFromContext(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.clientIP
	}
	return ""
}

// UserAgentFromContext returns the User-Agent of the request whose context
// this is, as UserAgent cleans it, when it went through a Router; ""
// otherwise.
func UserAgentFromContext(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.userAgent
	}
	return ""
}

func clientIP(r *http.Request, trustXFF bool) string {
	if trustXFF {
		// The right-most entry is the one our proxy added (or set); entries
		// to its left come from the client and could be forged.
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if addr, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return addr.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr.Unmap().String()
	}
	return host
}

// redactedURI is the request path and query with access_token values
// replaced, so that logs never hold credentials.
func redactedURI(u *url.URL) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	parts := strings.Split(u.RawQuery, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "access_token" || k == "access_token" {
			parts[i] = k + "=<redacted>"
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// statusWriter records the status for logs and metrics, and replaces the
// plain-text 404 and 405 responses of http.ServeMux with Matrix JSON.
type statusWriter struct {
	http.ResponseWriter
	req         *http.Request
	info        *requestInfo
	status      int
	wroteHeader bool
	swallow     bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	// ServeMux sets r.Pattern before calling a matched handler, so an empty
	// pattern here means the mux itself is answering: no route matched.
	if w.req.Pattern == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		w.req.Method != http.MethodOptions {
		w.swallow = true
		h := w.Header()
		h.Del("X-Content-Type-Options")
		msg := "Unrecognized request"
		if code == http.StatusMethodNotAllowed {
			msg = "Method not allowed for this endpoint"
		}
		e := Unrecognized(code, msg)
		w.wroteHeader, w.status = true, code
		var buf strings.Builder
		WriteJSON(&headerOnly{w.ResponseWriter, &buf}, code, e.Body())
		_, _ = w.ResponseWriter.Write([]byte(buf.String()))
		return
	}
	w.wroteHeader, w.status = true, code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets long-polling handlers push data early.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

// Hijack supports protocol upgrades through http.ResponseController.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerOnly passes WriteHeader through to the real writer and collects the
// body, so the JSON error can be written in one piece.
type headerOnly struct {
	http.ResponseWriter
	body *strings.Builder
}

func (h *headerOnly) Write(b []byte) (int, error) { return h.body.Write(b) }

// findStatusWriter finds the Router's writer under any wrapping that
// implements Unwrap.
func findStatusWriter(w http.ResponseWriter) *statusWriter {
	for i := 0; i < 16 && w != nil; i++ {
		if sw, ok := w.(*statusWriter); ok {
			return sw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}
