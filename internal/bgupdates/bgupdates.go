// Package bgupdates tracks the background updates of this process: the
// one-off backfills that index events stored before an index existed
// (full-text search, relations). Synapse's admin API reports such
// updates and can pause them (docs/usage/administration/admin_api/
// background_updates.md); Registry is what it reads and controls.
//
// Everything here is per process, as in Synapse, where pausing "is not
// persisted" across restarts: the updates' progress itself is stored by
// their own domains, so a restart resumes them.
package bgupdates

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Registry holds the running updates and the switch that pauses them.
// A nil *Registry never pauses and records nothing.
type Registry struct {
	now func() time.Time

	mu      sync.Mutex
	paused  bool
	resume  chan struct{} // closed when unpaused
	running map[*Update]struct{}
}

// New returns a registry with updates enabled; now is the clock (nil:
// time.Now).
func New(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{now: now, running: map[*Update]struct{}{}}
}

// Update is one running background update.
type Update struct {
	reg     *Registry
	name    string
	started time.Time
	items   int64 // under reg.mu
}

// Begin records that the update name has started.
func (r *Registry) Begin(name string) *Update {
	if r == nil {
		return nil
	}
	u := &Update{reg: r, name: name, started: r.now()}
	r.mu.Lock()
	r.running[u] = struct{}{}
	r.mu.Unlock()
	return u
}

// Processed adds n items done.
func (u *Update) Processed(n int) {
	if u == nil {
		return
	}
	u.reg.mu.Lock()
	u.items += int64(n)
	u.reg.mu.Unlock()
}

// End records that the update finished or stopped.
func (u *Update) End() {
	if u == nil {
		return
	}
	u.reg.mu.Lock()
	delete(u.reg.running, u)
	u.reg.mu.Unlock()
}

// Wait blocks while updates are paused; the update calls it between
// batches. It returns ctx's error if ctx ends first.
func (u *Update) Wait(ctx context.Context) error {
	if u == nil {
		return nil
	}
	u.reg.mu.Lock()
	ch := u.reg.resume
	paused := u.reg.paused
	u.reg.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enabled reports whether updates may run.
func (r *Registry) Enabled() bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.paused
}

// SetEnabled pauses (false) or resumes (true) every update.
func (r *Registry) SetEnabled(enabled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !enabled && !r.paused:
		r.paused, r.resume = true, make(chan struct{})
	case enabled && r.paused:
		r.paused = false
		close(r.resume)
	}
}

// Status is a running update as Synapse's status endpoint shows it.
type Status struct {
	Name string
	// Items is how many items (events) it processed so far in this
	// process, Duration for how long it has been running.
	Items    int64
	Duration time.Duration
}

// Running lists the running updates, by name.
func (r *Registry) Running() []Status {
	if r == nil {
		return nil
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.running))
	for u := range r.running {
		out = append(out, Status{Name: u.name, Items: u.items, Duration: now.Sub(u.started)})
	}
	sortByName(out)
	return out
}

func sortByName(s []Status) {
	slices.SortFunc(s, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
}
