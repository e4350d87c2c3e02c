package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/server"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// metricTotal sums a gathered metric family's samples (counters, gauges,
// and histograms' observation counts) whose labels include want.
func metricTotal(t *testing.T, families []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var sum float64
	metrics:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum, true
	}
	return 0, false
}

// The registry an operator scrapes describes requests, event persistence,
// /sync, the event cache, the database pool, federation both ways, rooms
// in memory and the Go runtime, and moves as the server works.
func TestMetrics_DescribeTheServersWork(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := servertest.Start(t, db, servertest.Options{})
		alice := srv.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		alice.SendText(room, "hello")
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, nil)
		alice.MustDo("GET", servertest.Room(room)+"/messages?dir=b", nil, nil)

		families, err := srv.Metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
			moved  bool // must be above zero after the requests above
		}{
			{"myelin_http_requests_total", map[string]string{"status": "200"}, true},
			{"myelin_http_request_duration_seconds", nil, true},
			{"myelin_rooms_events_persisted_total", map[string]string{"origin": "local"}, true},
			{"myelin_rooms_commits_total", map[string]string{"result": "ok"}, true},
			{"myelin_rooms_commit_duration_seconds", nil, true},
			{"myelin_rooms_in_memory", nil, true},
			{"myelin_sync_build_duration_seconds", map[string]string{"kind": "initial"}, true},
			{"myelin_event_cache_entries", nil, true},
			{"myelin_event_cache_hits_total", nil, false},
			{"myelin_event_cache_misses_total", nil, false},
			{"go_sql_open_connections", map[string]string{"db_name": "write"}, true},
			{"myelin_federation_inbound_transactions_total", nil, false},
			{"myelin_federation_sender_transactions_sent_total", nil, false},
			{"go_goroutines", nil, true},
			{"process_resident_memory_bytes", nil, false},
		} {
			v, ok := metricTotal(t, families, c.name, c.labels)
			if !ok {
				t.Errorf("%s is not exported", c.name)
			} else if c.moved && v <= 0 {
				t.Errorf("%s%v = %v after the server's work, want > 0", c.name, c.labels, v)
			}
		}
	})
}

// A metrics listener serves the registry when enable_metrics is on, and
// is not started when it is off (as Synapse does; the loader warns).
func TestMetrics_ListenerFollowsEnableMetrics(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprint("enable_metrics=", enabled), func(t *testing.T) {
			dir := t.TempDir()
			clientPort, metricsPort := freePort(t), freePort(t)
			path := servertest.WriteConfig(t, dir, nil, servertest.Options{ExtraYAML: fmt.Sprintf(`
enable_metrics: %v
listeners:
  - {port: %d, bind_addresses: ["127.0.0.1"], type: http, resources: [{names: [client]}]}
  - {port: %d, bind_addresses: ["127.0.0.1"], type: metrics}
`, enabled, clientPort, metricsPort)})
			cfg, _, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			defer func() {
				cancel()
				<-done
				srv.Close()
			}()
			waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d/health", clientPort))
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
			if !enabled {
				if err == nil {
					resp.Body.Close()
					t.Fatal("the metrics listener answered though enable_metrics is false")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "myelin_rooms_in_memory") {
				t.Fatalf("metrics: %d %.200s", resp.StatusCode, body)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	for range 500 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}
