package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRouter measures the per-request cost of the middleware around a
// trivial handler (CORS, logging to a discarding handler, metrics).
func BenchmarkRouter(b *testing.B) {
	rt := NewRouter(Options{Metrics: prometheus.NewRegistry()})
	rt.HandleFunc("GET /_matrix/client/v3/rooms/{roomId}/state", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
	})
	req := httptest.NewRequest("GET", "/_matrix/client/v3/rooms/!a:b/state", nil)
	b.ReportAllocs()
	for b.Loop() {
		rt.ServeHTTP(httptest.NewRecorder(), req)
	}
}
