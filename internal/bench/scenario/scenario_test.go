package scenario

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
	"github.com/myelin-chat/myelin/internal/bench/stats"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Every scenario at a tiny size against an in-process server on SQLite.
// The checks are about sanity (counts add up, no errors, positive
// latencies), never about speed. Concurrency stays at 3: the server's
// SQLite reader pool has 4 connections on small machines, and a store read
// that nests a second query while holding rows could wedge it at 4
// concurrent requests (reported with the first bench figures); these tests
// are about the tool, not about finding that again.

type progressLog struct {
	mu    sync.Mutex
	steps []Step
}

func (p *progressLog) add(s Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, s)
}

func newEnv(t *testing.T, sharedSecret string) (*Env, *progressLog) {
	t.Helper()
	yaml := ""
	if sharedSecret != "" {
		yaml = "registration_shared_secret: \"" + sharedSecret + "\"\n"
	}
	srv := servertest.Start(t, storagetest.NewSQLite(t), servertest.Options{ExtraYAML: yaml})
	conn := client.NewConn(srv.URL, 32)
	t.Cleanup(conn.Close)
	log := &progressLog{}
	return &Env{Conn: conn, Registrar: client.Registrar{Conn: conn, SharedSecret: sharedSecret},
		Prefix: NewPrefix(), Progress: log.add, SetupConcurrency: 3}, log
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// positive checks a latency summary of want samples.
func positive(t *testing.T, name string, s stats.Summary, want int) {
	t.Helper()
	if s.Count != want || s.Min <= 0 || s.Max < s.P99 || s.P99 < s.P50 || s.P50 < s.Min {
		t.Errorf("%s: implausible summary for %d samples: %+v", name, want, s)
	}
}

func TestScenarios(t *testing.T) {
	env, progress := newEnv(t, "")
	ctx := ctxFor(t)

	t.Run("send", func(t *testing.T) {
		r, err := Send(ctx, env, SendParams{Messages: 5})
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent != 5 || r.Errors != 0 || r.PerSecond <= 0 {
			t.Errorf("result %+v", r)
		}
		positive(t, "latency", r.LatencyMS, 5)
	})

	t.Run("fanout", func(t *testing.T) {
		r, err := Fanout(ctx, env, FanoutParams{Users: 3, Messages: 4, Gap: time.Millisecond, DeliveryBound: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if r.Delivered != 4 || r.Undelivered != 0 || r.SendErrors != 0 || r.SyncErrors != 0 {
			t.Errorf("result %+v", r)
		}
		positive(t, "from send", r.LastDeliveryFromSendMS, 4)
		positive(t, "send", r.SendLatencyMS, 4)
		positive(t, "initial sync", r.InitialSyncMS, 3)
		if r.LastDeliveryMS.Count != 4 || r.SyncAnswersPerDelivery < 1 {
			t.Errorf("result %+v", r)
		}
	})

	t.Run("typing", func(t *testing.T) {
		r, err := Fanout(ctx, env, FanoutParams{Users: 3, Messages: 4, Typing: true, Gap: time.Millisecond, DeliveryBound: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if r.Delivered != 4 || r.Undelivered != 0 || r.SendErrors != 0 || r.SyncErrors != 0 || !r.Typing {
			t.Errorf("result %+v", r)
		}
		positive(t, "from typing PUT", r.LastDeliveryFromSendMS, 4)
	})

	t.Run("throughput", func(t *testing.T) {
		for _, p := range []ThroughputParams{
			{Senders: 3, Rooms: 2, Duration: 300 * time.Millisecond}, // rooms shared
			{Senders: 2, Rooms: 3, Duration: 300 * time.Millisecond}, // rooms owned
		} {
			r, err := Throughput(ctx, env, p)
			if err != nil {
				t.Fatal(err)
			}
			if r.Events < p.Senders || r.Errors != 0 || r.EventsPerSecond <= 0 {
				t.Errorf("%+v: result %+v", p, r)
			}
			positive(t, "latency", r.LatencyMS, r.Events)
		}
	})

	t.Run("initialsync", func(t *testing.T) {
		r, err := InitialSync(ctx, env, InitialSyncParams{Rooms: 3, EventsPerRoom: 4, Repeats: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.RoomsInInitial != 3 || r.MissingNew != 0 || r.InitialBytes <= r.IncrementalBytes {
			t.Errorf("result %+v", r)
		}
		positive(t, "initial", r.InitialMS, 2)
		positive(t, "incremental", r.IncrementalMS, 2)
		if r.InitialMinMS > r.InitialMedianMS {
			t.Errorf("min above median: %+v", r)
		}
	})

	t.Run("joinstorm", func(t *testing.T) {
		r, err := JoinStorm(ctx, env, JoinStormParams{Users: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r.Joined != 3 || r.Listed != 3 || r.Errors != 0 || r.AllListedMS < r.AllJoinedMS || r.AllJoinedMS <= 0 {
			t.Errorf("result %+v", r)
		}
		positive(t, "join", r.JoinLatencyMS, 3)
	})

	t.Run("register", func(t *testing.T) {
		r, err := Register(ctx, env, RegisterParams{Accounts: 3, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.Created != 3 || r.Errors != 0 || r.Method != "dummy" || r.AccountsPerSecond <= 0 {
			t.Errorf("result %+v", r)
		}
		positive(t, "register", r.RegisterMS, 3)
		positive(t, "login", r.LoginMS, 3)
	})

	if len(progress.steps) == 0 {
		t.Errorf("no progress reported")
	}
}

// Runs repeat against the same server: a second Env (new prefix) creates
// its own users, and the shared-secret method works for scenarios too.
func TestScenarios_RepeatWithSharedSecret(t *testing.T) {
	env, _ := newEnv(t, "bench-secret")
	ctx := ctxFor(t)
	for range 2 {
		r, err := Register(ctx, env, RegisterParams{Accounts: 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.Created != 2 || r.Method != "shared-secret" {
			t.Errorf("result %+v", r)
		}
	}
	again := &Env{Conn: env.Conn, Registrar: env.Registrar, Prefix: NewPrefix()}
	if _, err := Send(ctx, again, SendParams{Messages: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestScenarios_RejectBadSizes(t *testing.T) {
	env := &Env{}
	ctx := context.Background()
	if _, err := Send(ctx, env, SendParams{}); err == nil {
		t.Error("send with 0 messages")
	}
	if _, err := Fanout(ctx, env, FanoutParams{Users: 0, Messages: 1}); err == nil {
		t.Error("fanout with 0 users")
	}
	if _, err := Throughput(ctx, env, ThroughputParams{Senders: 1, Rooms: 1}); err == nil {
		t.Error("throughput without duration")
	}
	if _, err := InitialSync(ctx, env, InitialSyncParams{}); err == nil {
		t.Error("initialsync with 0 rooms")
	}
	if _, err := JoinStorm(ctx, env, JoinStormParams{}); err == nil {
		t.Error("joinstorm with 0 users")
	}
	if _, err := Register(ctx, env, RegisterParams{}); err == nil {
		t.Error("register with 0 accounts")
	}
}
