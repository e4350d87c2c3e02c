package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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

// BenchmarkLimiterAllow measures one rate-limit check across many keys.
func BenchmarkLimiterAllow(b *testing.B) {
	for _, keys := range []int{10, 10_000} {
		b.Run(fmt.Sprint(keys, "keys"), func(b *testing.B) {
			l := NewLimiter(RateLimit{PerSecond: 1000, BurstCount: 1000}, time.Now)
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprint("10.0.", i/256, ".", i%256)
			}
			i := 0
			for b.Loop() {
				l.Allow(names[i%keys])
				i++
			}
		})
	}
}
