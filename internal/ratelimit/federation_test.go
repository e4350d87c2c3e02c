package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// fakeTimers hands out channels for requested sleeps; the test fires them.
type fakeTimers struct {
	mu     sync.Mutex
	delays []time.Duration
	chans  []chan time.Time
}

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.delays = append(f.delays, d)
	f.chans = append(f.chans, c)
	return c
}

func (f *fakeTimers) fireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.chans {
		select {
		case c <- time.Time{}:
		default:
		}
	}
}

func (f *fakeTimers) requested() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.delays...)
}

// waitFor yields until cond holds: synchronisation with the goroutines
// under test, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1_000_000 {
			t.Fatalf("never reached: %s", what)
		}
		runtime.Gosched()
	}
}

type entered struct {
	release func()
	err     error
}

func enterAsync(f *Federation, ctx context.Context, origin string) chan entered {
	out := make(chan entered, 1)
	go func() {
		r, err := f.Enter(ctx, origin)
		out <- entered{r, err}
	}()
	return out
}

func mustEnter(t *testing.T, f *Federation, origin string) func() {
	t.Helper()
	release, err := f.Enter(context.Background(), origin)
	if err != nil {
		t.Fatalf("Enter(%s): %v", origin, err)
	}
	return release
}

// rc_federation.sleep_limit: past sleep_limit requests in the window, each
// further one waits sleep_delay first; requests once the window has passed
// do not.
func TestFederation_DelaysPastSleepLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	timers := &fakeTimers{}
	f := NewFederation(FederationLimits{WindowSize: time.Second, SleepLimit: 2, SleepDelay: 500 * time.Millisecond,
		RejectLimit: 50, Concurrent: 10}, clock.now, timers.after)
	mustEnter(t, f, "a.example")()
	mustEnter(t, f, "a.example")()
	if len(timers.requested()) != 0 {
		t.Fatal("requests within sleep_limit were delayed")
	}
	third := enterAsync(f, context.Background(), "a.example")
	waitFor(t, "the third request to sleep", func() bool { _, _, s := f.Waiting("a.example"); return s == 1 })
	if got := timers.requested(); len(got) != 1 || got[0] != 500*time.Millisecond {
		t.Fatalf("delays %v, want one of 500ms", got)
	}
	mustEnter(t, f, "b.example")() // other servers are not slowed
	timers.fireAll()
	if e := <-third; e.err != nil {
		t.Fatal(e.err)
	} else {
		e.release()
	}
	clock.advance(time.Second)
	mustEnter(t, f, "a.example")()
	if n := len(timers.requested()); n != 1 {
		t.Fatalf("%d delays after the window passed, want still 1", n)
	}
}

// rc_federation.concurrent: at most that many of a server's requests run at
// once; the next waits its turn and runs when one finishes.
func TestFederation_ConcurrentQueuesInOrder(t *testing.T) {
	f := NewFederation(FederationLimits{WindowSize: time.Second, SleepLimit: 100, RejectLimit: 50, Concurrent: 1},
		(&fakeClock{t: time.Unix(0, 0)}).now, nil)
	first := mustEnter(t, f, "a.example")
	second := enterAsync(f, context.Background(), "a.example")
	waitFor(t, "the second to queue", func() bool { _, q, _ := f.Waiting("a.example"); return q == 1 })
	third := enterAsync(f, context.Background(), "a.example")
	waitFor(t, "the third to queue", func() bool { _, q, _ := f.Waiting("a.example"); return q == 2 })
	mustEnter(t, f, "b.example")() // other servers have their own slots
	first()
	first() // releasing twice frees one slot only
	e := <-second
	if e.err != nil {
		t.Fatal(e.err)
	}
	if a, q, _ := f.Waiting("a.example"); a != 1 || q != 1 {
		t.Fatalf("active %d queued %d after one release, want 1 and 1", a, q)
	}
	e.release()
	if e := <-third; e.err != nil {
		t.Fatal(e.err)
	} else {
		e.release()
	}
	if a, q, _ := f.Waiting("a.example"); a != 0 || q != 0 {
		t.Fatalf("active %d queued %d at rest", a, q)
	}
}

// rc_federation.reject_limit: while more than that many requests wait, new
// ones are refused with 429, retry_after window_size/sleep_limit (Synapse).
func TestFederation_RejectsPastRejectLimit(t *testing.T) {
	f := NewFederation(FederationLimits{WindowSize: time.Second, SleepLimit: 100, RejectLimit: 1, Concurrent: 1},
		(&fakeClock{t: time.Unix(0, 0)}).now, nil)
	running := mustEnter(t, f, "a.example")
	w1 := enterAsync(f, context.Background(), "a.example")
	w2 := enterAsync(f, context.Background(), "a.example")
	waitFor(t, "two waiting", func() bool { _, q, _ := f.Waiting("a.example"); return q == 2 })
	_, err := f.Enter(context.Background(), "a.example")
	me, ok := merr.As(err)
	if !ok || !errors.Is(err, merr.ErrLimitExceeded) || me.RetryAfter != 10*time.Millisecond {
		t.Fatalf("err = %v, want M_LIMIT_EXCEEDED after 10ms", err)
	}
	running()
	for range 2 { // in the order they queued, whichever that was
		select {
		case e := <-w1:
			e.release()
		case e := <-w2:
			e.release()
		}
	}
	mustEnter(t, f, "a.example")()
}

// A request abandoned while it waits leaves the queue and takes no slot.
func TestFederation_AbandonedWaitLeavesQueue(t *testing.T) {
	f := NewFederation(FederationLimits{WindowSize: time.Second, SleepLimit: 100, RejectLimit: 50, Concurrent: 1},
		(&fakeClock{t: time.Unix(0, 0)}).now, nil)
	running := mustEnter(t, f, "a.example")
	ctx, cancel := context.WithCancel(context.Background())
	waiting := enterAsync(f, ctx, "a.example")
	waitFor(t, "queued", func() bool { _, q, _ := f.Waiting("a.example"); return q == 1 })
	cancel()
	if e := <-waiting; !errors.Is(e.err, context.Canceled) {
		t.Fatalf("err = %v", e.err)
	}
	running()
	if a, q, _ := f.Waiting("a.example"); a != 0 || q != 0 {
		t.Fatalf("active %d queued %d", a, q)
	}
}

// Origins that went quiet are forgotten: memory follows the servers
// talking to us now.
func TestFederation_IdleOriginsAreDropped(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	f := NewFederation(FederationLimits{WindowSize: time.Second, SleepLimit: 10, RejectLimit: 50, Concurrent: 3}, clock.now, nil)
	for i := 0; i < 1000; i++ {
		mustEnter(t, f, fmt.Sprint("s", i, ".example"))()
	}
	clock.advance(2 * time.Second)
	for i := 0; i < 200; i++ {
		mustEnter(t, f, fmt.Sprint("new", i, ".example"))()
	}
	if n := f.Hosts(); n > 400 {
		t.Fatalf("%d origins tracked, want only recent ones", n)
	}
}

func TestFederation_NilLetsEverythingThrough(t *testing.T) {
	var f *Federation
	for i := 0; i < 10; i++ {
		mustEnter(t, f, "a.example")
	}
}
