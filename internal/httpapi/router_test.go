package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/myelin-chat/myelin/internal/merr"
)

// syncBuffer is a log sink safe for the server goroutines of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer.
func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func newTestRouter(t *testing.T) (*syncBuffer, *Router) {
	t.Helper()
	logs := &syncBuffer{}
	rt := NewRouter(Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return logs, rt
}

func serve(h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, body))
	return rec
}

func hello(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, 200, map[string]string{"hello": r.PathValue("name")})
}

// Spec: client-server-api "Common error codes" — M_UNRECOGNIZED with 404 for
// unknown endpoints and 405 for a wrong method, as JSON.
func TestRouter_UnknownPathAndWrongMethodAreJSONUnrecognized(t *testing.T) {
	_, rt := newTestRouter(t)
	rt.HandleFunc("GET /_matrix/client/v3/hello/{name}", hello)

	rec := serve(rt, "GET", "/_matrix/client/v3/nope", nil)
	if rec.Code != 404 {
		t.Fatalf("unknown path: status %d", rec.Code)
	}
	if body := decodeError(t, rec); body["errcode"] != "M_UNRECOGNIZED" {
		t.Errorf("unknown path: body %v", body)
	}

	rec = serve(rt, "POST", "/_matrix/client/v3/hello/bob", strings.NewReader("{}"))
	if rec.Code != 405 {
		t.Fatalf("wrong method: status %d", rec.Code)
	}
	if body := decodeError(t, rec); body["errcode"] != "M_UNRECOGNIZED" {
		t.Errorf("wrong method: body %v", body)
	}
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}

	rec = serve(rt, "GET", "/_matrix/client/v3/hello/bob", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"bob"`) {
		t.Errorf("matched route: %d %s", rec.Code, rec.Body.String())
	}
}

// A handler's own 404 (e.g. unknown room) must pass through untouched.
func TestRouter_HandlerNotFoundIsNotRewritten(t *testing.T) {
	_, rt := newTestRouter(t)
	rt.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, NotFound("Room not found"))
	})
	rec := serve(rt, "GET", "/x", nil)
	if body := decodeError(t, rec); rec.Code != 404 || body["errcode"] != "M_NOT_FOUND" {
		t.Errorf("got %d %v", rec.Code, body)
	}
}

// Spec: client-server-api "Web Browser Clients" — CORS headers on all
// responses; OPTIONS answered without running endpoint logic.
func TestRouter_CORSOnEveryResponseAndOptionsRunsNoLogic(t *testing.T) {
	_, rt := newTestRouter(t)
	ran := false
	rt.HandleFunc("POST /do", func(w http.ResponseWriter, r *http.Request) {
		ran = true
		WriteError(w, Forbidden("no"))
	})
	for _, c := range []struct{ method, path string }{
		{"POST", "/do"}, {"GET", "/missing"}, {"GET", "/do"}, {"OPTIONS", "/do"}, {"OPTIONS", "/missing"},
	} {
		ran = false
		rec := serve(rt, c.method, c.path, strings.NewReader("{}"))
		h := rec.Header()
		if h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, DELETE, OPTIONS" ||
			h.Get("Access-Control-Allow-Headers") != "X-Requested-With, Content-Type, Authorization" {
			t.Errorf("%s %s: CORS headers missing: %v", c.method, c.path, h)
		}
		if c.method == "OPTIONS" {
			if rec.Code != 204 {
				t.Errorf("OPTIONS %s: status %d, want 204", c.path, rec.Code)
			}
			if ran {
				t.Errorf("OPTIONS %s ran the endpoint", c.path)
			}
		}
	}
}

func TestRouter_PanicBecomes500AndLogsStack(t *testing.T) {
	logs, rt := newTestRouter(t)
	rt.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("handler bug")
	})
	rec := serve(rt, "GET", "/panic", nil)
	if rec.Code != 500 {
		t.Fatalf("status = %d", rec.Code)
	}
	if body := decodeError(t, rec); body["errcode"] != "M_UNKNOWN" {
		t.Errorf("body = %v", body)
	}
	if strings.Contains(rec.Body.String(), "handler bug") {
		t.Errorf("panic value leaked to client")
	}
	out := logs.String()
	if !strings.Contains(out, "panic serving request") || !strings.Contains(out, "router_test.go") {
		t.Errorf("stack not logged:\n%s", out)
	}
}

// Another server failing a request (502, 504) is logged as a warning with
// its detail: it is worth an operator's look, but it is not a fault of
// ours to raise an ERROR for (issue 10 item 5).
func TestRouter_UpstreamFailuresLogAsWarnings(t *testing.T) {
	logs, rt := newTestRouter(t)
	rt.HandleFunc("GET /join", func(w http.ResponseWriter, r *http.Request) {
		cause := errors.New("dial tcp 192.0.2.1:8448: connection refused")
		WriteError(w, fmt.Errorf("%w: %w", merr.New(merr.ErrBadGateway, merr.CodeUnknown, "Could not join the room through example.org: unreachable"), cause))
	})
	rec := serve(rt, "GET", "/join", nil)
	if body := decodeError(t, rec); rec.Code != http.StatusBadGateway || body["errcode"] != "M_UNKNOWN" || !strings.Contains(body["error"].(string), "example.org") {
		t.Fatalf("got %d %v", rec.Code, body)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") || !strings.Contains(out, "connection refused") {
		t.Errorf("log:\n%s\nwant one WARN line with the cause", out)
	}
}

func TestRouter_AbortHandlerPanicPropagates(t *testing.T) {
	_, rt := newTestRouter(t)
	rt.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	serve(rt, "GET", "/abort", nil)
}

func TestRouter_RequestLogLineRedactsAccessToken(t *testing.T) {
	logs, rt := newTestRouter(t)
	rt.Handle("GET /me", RequireAuth(fakeResolver{}, func(w http.ResponseWriter, r *http.Request, s *Session) {
		WriteJSON(w, 200, map[string]string{})
	}))
	rec := serve(rt, "GET", "/me?access_token=good&x=1", nil)
	if rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body.String())
	}
	out := logs.String()
	if strings.Contains(out, "good") {
		t.Errorf("access token logged:\n%s", out)
	}
	for _, want := range []string{"method=GET", "access_token=<redacted>", "x=1", "status=200", "duration_ms=", "user=@alice:example.org"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "msg=request"); n != 1 {
		t.Errorf("%d request lines, want 1", n)
	}
}

func TestRouter_ClientIPFromForwardedForOnlyWhenTrusted(t *testing.T) {
	for _, trust := range []bool{false, true} {
		rt := NewRouter(Options{TrustForwardedFor: trust})
		var got string
		rt.HandleFunc("GET /ip", func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) })
		req := httptest.NewRequest("GET", "/ip", nil)
		req.RemoteAddr = "10.1.1.1:5555"
		req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.9")
		rt.ServeHTTP(httptest.NewRecorder(), req)
		want := "10.1.1.1"
		if trust {
			want = "203.0.113.9" // the entry our proxy appended
		}
		if got != want {
			t.Errorf("trust=%v: ClientIP = %q, want %q", trust, got, want)
		}
	}
}

func TestRouter_MetricsByRoutePatternAndStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := time.Unix(0, 0)
	rt := NewRouter(Options{Metrics: reg, Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	rt.HandleFunc("GET /hello/{name}", hello)
	serve(rt, "GET", "/hello/a", nil)
	serve(rt, "GET", "/hello/b", nil)
	serve(rt, "GET", "/nope", nil)

	// A second router on the same registry shares the collectors.
	rt2 := NewRouter(Options{Metrics: reg})
	rt2.HandleFunc("GET /hello/{name}", hello)
	serve(rt2, "GET", "/hello/c", nil)

	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "myelin_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[labels(m)] = m.GetCounter().GetValue()
		}
	}
	if counts["route=GET /hello/{name},status=200"] != 3 {
		t.Errorf("counts = %v", counts)
	}
	if counts["route=unmatched,status=404"] != 1 {
		t.Errorf("counts = %v", counts)
	}
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// Requests log at debug; a client error at info, a slow answer (not a
// long-poll) at warn, a server error at error, each with its duration in
// milliseconds.
func TestRouter_RequestLogLevels(t *testing.T) {
	logs := &syncBuffer{}
	clock := time.Unix(0, 0)
	var step time.Duration
	rt := NewRouter(Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { clock = clock.Add(step); return clock }})
	rt.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]string{}) })
	rt.HandleFunc("GET /_matrix/client/v3/sync", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]string{}) })
	rt.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { WriteError(w, errors.New("disk on fire")) })
	for _, c := range []struct {
		path  string
		took  time.Duration
		level string
	}{
		{"/ok", time.Millisecond, "level=DEBUG"},
		{"/missing", time.Millisecond, "level=INFO"},
		{"/ok", 2 * time.Second, "level=WARN"},
		{"/_matrix/client/v3/sync", 30 * time.Second, "level=DEBUG"},
		{"/boom", time.Millisecond, "level=ERROR"},
	} {
		logs.Reset()
		step = c.took
		serve(rt, "GET", c.path, nil)
		out := logs.String()
		if !strings.Contains(out, c.level) || !strings.Contains(out, "duration_ms=") {
			t.Errorf("GET %s taking %v logged %q, want %s with duration_ms", c.path, c.took, out, c.level)
		}
	}
}
