package scenario

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Whole-server benchmarks: the load tool's scenarios against an in-process
// server (real HTTP on loopback, real database), so that a CPU or block
// profile covers the server's whole request path:
//
//	go test -run XXX -bench ServerThroughput -benchtime 1x -cpuprofile cpu.out ./internal/bench/scenario
//	go tool pprof -top cpu.out
//
// The tool's client shares the process, as it shares the machine in
// scripts/bench.sh runs. Each iteration is one whole scenario run; the
// figures it reports are the scenario's own.

func benchEnv(b *testing.B, db *sqldb.DB, conns int) *Env {
	b.Helper()
	srv := servertest.Start(b, db, servertest.Options{})
	// Enough connections for every long-polling receiver (as the tool's
	// connsNeeded): a receiver without one stalls the fan-out until its
	// delivery bound.
	conn := client.NewConn(srv.URL, conns)
	b.Cleanup(conn.Close)
	return &Env{Conn: conn, Registrar: client.Registrar{Conn: conn}, Prefix: NewPrefix(), SetupConcurrency: 3}
}

// BenchmarkServerThroughput: 10 senders across 10 rooms for 5 s, the
// throughput target's shape.
func BenchmarkServerThroughput(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		env := benchEnv(b, db, 64)
		for b.Loop() {
			res, err := Throughput(context.Background(), env, ThroughputParams{Senders: 10, Rooms: 10, Duration: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EventsPerSecond, "events/s")
			b.ReportMetric(res.LatencyMS.P50, "p50-ms")
		}
	})
}

// BenchmarkServerIncrementalSync: one user in 1 000 rooms of 20 events;
// the incremental sync after one new message (the first, initial sync is
// part of the setup).
func BenchmarkServerIncrementalSync(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		env := benchEnv(b, db, 64)
		env.SetupConcurrency = 8
		for b.Loop() {
			res, err := InitialSync(context.Background(), env, InitialSyncParams{Rooms: 1000, EventsPerRoom: 20, Repeats: 20})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.IncrementalMedianMS, "incr-ms")
			b.ReportMetric(res.InitialMedianMS, "initial-ms")
		}
	})
}

// BenchmarkServerFanout: 100 and 1 000 users long-polling /sync in one
// room, one sender, 20 messages (-bench 'ServerFanout/users=1000/sqlite'
// for one size).
func BenchmarkServerFanout(b *testing.B) {
	for _, users := range []int{100, 1000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				env := benchEnv(b, db, users+64)
				env.SetupConcurrency = 8
				for b.Loop() {
					res, err := Fanout(context.Background(), env, FanoutParams{Users: users, Messages: 20})
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(res.LastDeliveryMS.P50, "last-p50-ms")
					b.ReportMetric(res.LastDeliveryMS.P99, "last-p99-ms")
				}
			})
		})
	}
}
