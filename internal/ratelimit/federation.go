package ratelimit

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// FederationLimits is rc_federation (Synapse's defaults: a window of 1 s,
// sleep_limit 10, sleep_delay 500 ms, reject_limit 50, concurrent 3).
type FederationLimits struct {
	// WindowSize is how far back requests are counted.
	WindowSize time.Duration
	// SleepLimit is how many requests a window may hold before each
	// further one is delayed by SleepDelay.
	SleepLimit int
	SleepDelay time.Duration
	// RejectLimit is how many requests may wait (delayed or queued for a
	// slot) before more are refused with 429.
	RejectLimit int
	// Concurrent is how many of one server's requests run at once.
	Concurrent int
}

// Federation throttles inbound federation requests per origin server, the
// way Synapse applies rc_federation to every authenticated request: past
// SleepLimit requests in the last WindowSize, a request first waits
// SleepDelay; at most Concurrent run at once and the rest queue in order;
// while more than RejectLimit wait, new ones are refused. A busy server so
// slows itself down instead of crowding out the others.
//
// A nil *Federation lets everything through. Per-origin state is dropped
// once an origin is idle and its window has passed.
type Federation struct {
	lim   FederationLimits
	now   func() time.Time
	after func(time.Duration) <-chan time.Time

	mu      sync.Mutex
	hosts   map[string]*fedHost
	sweepAt int
}

type fedHost struct {
	// times holds the latest request times, at most SleepLimit+1 of them,
	// in a ring whose oldest entry is at next once it is full.
	times    []time.Time
	next     int
	sleeping int
	queue    []chan struct{} // waiting for a slot, first come first served
	active   int
}

// NewFederation returns the throttle for lim. now and after are the clock
// (nil: time.Now and time.After), replaceable so that tests need not sleep.
// Limits that could never let a request through are raised to the least
// that can (a window of 1 ms, one request at a time).
func NewFederation(lim FederationLimits, now func() time.Time, after func(time.Duration) <-chan time.Time) *Federation {
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	lim.WindowSize = max(lim.WindowSize, time.Millisecond)
	lim.SleepLimit = max(lim.SleepLimit, 1)
	lim.SleepDelay = max(lim.SleepDelay, 0)
	lim.RejectLimit = max(lim.RejectLimit, 0)
	lim.Concurrent = max(lim.Concurrent, 1)
	return &Federation{lim: lim, now: now, after: after, hosts: map[string]*fedHost{}, sweepAt: 64}
}

// Enter waits until a request from origin may run and returns the function
// to call when it is done. It fails with 429 M_LIMIT_EXCEEDED when too many
// of origin's requests are already waiting, or with ctx's error if the
// request is abandoned while it waits.
func (f *Federation) Enter(ctx context.Context, origin string) (release func(), err error) {
	if f == nil {
		return func() {}, nil
	}
	now := f.now()
	f.mu.Lock()
	h := f.host(origin, now)
	if h.sleeping+len(h.queue) > f.lim.RejectLimit {
		f.mu.Unlock()
		return nil, merr.LimitExceeded(f.lim.WindowSize / time.Duration(f.lim.SleepLimit))
	}
	sleep := h.record(now, f.lim)
	if sleep {
		h.sleeping++
	}
	f.mu.Unlock()

	if sleep {
		var err error
		select {
		case <-f.after(f.lim.SleepDelay):
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		h.sleeping--
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
	} else {
		f.mu.Lock()
	}
	if h.active < f.lim.Concurrent {
		h.active++
		f.mu.Unlock()
		return f.releaser(h), nil
	}
	turn := make(chan struct{})
	h.queue = append(h.queue, turn)
	f.mu.Unlock()
	select {
	case <-turn:
		return f.releaser(h), nil
	case <-ctx.Done():
		f.mu.Lock()
		if i := slices.Index(h.queue, turn); i >= 0 {
			h.queue = slices.Delete(h.queue, i, i+1)
			f.mu.Unlock()
			return nil, ctx.Err()
		}
		f.mu.Unlock()
		// The slot was handed over as the request gave up: pass it on.
		f.releaser(h)()
		return nil, ctx.Err()
	}
}

// releaser ends a running request once: its slot goes to the first waiting
// request, if any.
func (f *Federation) releaser(h *fedHost) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(h.queue) > 0 {
				next := h.queue[0]
				h.queue = h.queue[1:]
				close(next) // the slot passes on: active stays the same
				return
			}
			h.active--
		})
	}
}

// Waiting reports how many of origin's requests are running, queued for a
// slot and delayed (for metrics and tests).
func (f *Federation) Waiting(origin string) (active, queued, sleeping int) {
	if f == nil {
		return 0, 0, 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.hosts[origin]; h != nil {
		return h.active, len(h.queue), h.sleeping
	}
	return 0, 0, 0
}

// Hosts is how many origins are tracked.
func (f *Federation) Hosts() int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.hosts)
}

// host returns origin's state, first dropping idle origins whose window
// has passed when the map has grown (amortised O(1) per new origin).
func (f *Federation) host(origin string, now time.Time) *fedHost {
	if h := f.hosts[origin]; h != nil {
		return h
	}
	if len(f.hosts) >= f.sweepAt {
		for o, h := range f.hosts {
			if h.active == 0 && h.sleeping == 0 && len(h.queue) == 0 && !h.recent(now, f.lim.WindowSize) {
				delete(f.hosts, o)
			}
		}
		f.sweepAt = max(2*len(f.hosts), 64)
	}
	h := &fedHost{}
	f.hosts[origin] = h
	return h
}

// record notes a request at now and reports whether it must wait first:
// whether more than SleepLimit requests, this one included, fall within
// the window (Synapse counts requests less than window_size old).
func (h *fedHost) record(now time.Time, lim FederationLimits) bool {
	size := lim.SleepLimit + 1
	if len(h.times) < size {
		h.times = append(h.times, now)
		return len(h.times) == size && now.Sub(h.times[0]) < lim.WindowSize
	}
	h.times[h.next] = now
	h.next = (h.next + 1) % size
	oldest := h.times[h.next]
	return now.Sub(oldest) < lim.WindowSize
}

// recent reports whether the latest request is still within the window.
func (h *fedHost) recent(now time.Time, window time.Duration) bool {
	if len(h.times) == 0 {
		return false
	}
	latest := h.times[(h.next+len(h.times)-1)%len(h.times)]
	return now.Sub(latest) < window
}
