// Package scenario holds the load tool's whole-server scenarios. Each is a
// function taking an Env and a parameter struct and returning a result
// struct (JSON-ready, latencies in milliseconds). Scenarios talk to the
// server only through package client, create their own users under a
// random prefix (so runs repeat against the same server), are bounded in
// count and time, and stop by themselves. They never assert how fast
// anything is: they measure.
package scenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/bench/client"
)

// Step reports how far a scenario is: Done of Total in the current phase,
// with an optional note (e.g. an error count).
type Step struct {
	Phase       string
	Done, Total int
	Note        string
}

// Env is what every scenario needs.
type Env struct {
	Conn      *client.Conn
	Registrar client.Registrar
	// Prefix starts every user name of this run; NewPrefix makes one.
	Prefix string
	// Password is every created user's password (default: a fixed strong
	// one, so servers with a password policy accept it).
	Password string
	// Progress, if set, is told how far the scenario is. It is called
	// from several goroutines and should be cheap.
	Progress func(Step)
	// SetupConcurrency bounds concurrent requests while preparing users
	// and rooms (default 16).
	SetupConcurrency int
	// PID is the server's process ID, for scenarios that report its
	// memory phase by phase (0: not sampled).
	PID int

	seq atomic.Int64
}

// NewPrefix returns a random user-name prefix such as "bench-1a2b3c4d".
// Localparts may hold a-z, 0-9 and "._=-/" (appendices "User
// Identifiers"), so it uses only lower-case hex and "-".
func NewPrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "bench-" + hex.EncodeToString(b)
}

const defaultPassword = "Bench-password-4-load-tests!"

func (e *Env) password() string {
	if e.Password != "" {
		return e.Password
	}
	return defaultPassword
}

func (e *Env) setupConcurrency() int {
	if e.SetupConcurrency > 0 {
		return e.SetupConcurrency
	}
	return 16
}

func (e *Env) progress(phase string, done, total int, note string) {
	if e.Progress != nil {
		e.Progress(Step{Phase: phase, Done: done, Total: total, Note: note})
	}
}

// names returns a fresh name stem for one scenario run ("<prefix>-<tag><n>"),
// unique within the Env even when a scenario runs twice.
func (e *Env) names(tag string) string {
	return e.Prefix + "-" + tag + strconv.FormatInt(e.seq.Add(1), 10)
}

// registerUsers creates n users named stem-0 … stem-(n-1) in parallel.
func (e *Env) registerUsers(ctx context.Context, stem string, n int) ([]*client.Client, error) {
	users := make([]*client.Client, n)
	var done atomic.Int64
	e.progress("register users", 0, n, "")
	err := forEach(ctx, n, e.setupConcurrency(), func(ctx context.Context, i int) error {
		c, err := e.Registrar.Register(ctx, stem+"-"+strconv.Itoa(i), e.password())
		if err != nil {
			return fmt.Errorf("registering user %d: %w", i, err)
		}
		users[i] = c
		e.progress("register users", int(done.Add(1)), n, "")
		return nil
	})
	return users, err
}

// joinAll makes every user join room in parallel.
func (e *Env) joinAll(ctx context.Context, users []*client.Client, room string) error {
	var done atomic.Int64
	e.progress("join room", 0, len(users), "")
	return forEach(ctx, len(users), e.setupConcurrency(), func(ctx context.Context, i int) error {
		if _, err := users[i].Join(ctx, room); err != nil {
			return fmt.Errorf("user %d joining: %w", i, err)
		}
		e.progress("join room", int(done.Add(1)), len(users), "")
		return nil
	})
}

// forEach runs fn for i in [0, n) on at most workers goroutines. It stops
// handing out work at the first error (or when ctx ends) and returns that
// error.
func forEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err() // the parent's, if it ended
}

// errorLog counts errors of a measured phase and keeps the first.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first string
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if l.first == "" {
		l.first = err.Error()
	}
}

func (l *errorLog) count() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.first
}

// errAborted marks a measured phase stopped by too many errors.
var errAborted = errors.New("too many errors")

// seconds is a duration in (fractional) seconds, for results.
func seconds(d time.Duration) float64 { return d.Seconds() }

// ms is a duration in (fractional) milliseconds, for results.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// createRoom creates a room with the given preset and name. Setup creates
// rooms in parallel, often several per user within a millisecond; in room
// version 12 the room ID is the hash of the create event, so the server
// must keep such rooms apart (Myelin did not before 6af0d12, answering 500).
func createRoom(ctx context.Context, c *client.Client, preset, name string) (string, error) {
	return c.CreateRoom(ctx, map[string]any{"preset": preset, "name": name})
}
