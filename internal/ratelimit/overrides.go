package ratelimit

import (
	"context"
	"sync"
)

// Per-user overrides (Synapse's admin API override_ratelimit): an override
// with a rate of 0 exempts the user from every limit a request of theirs
// draws on, and any other is a limit: the user draws on rc_message at its
// rate and burst. Synapse documents 0/0 as the exemption ("To disable
// users' ratelimit set both values to 0") and its limiters read only the
// rate for it ("overridden with a null Hz"), so 0/5 exempts too, while 5/0
// is a limit of 5 a second. Synapse's bucket would refuse every message at
// a burst of 0; here a bucket holds at least one action (newTable), so 5/0
// lets one message through and then 5 a second.
//
// Overrides are stored in the database; the limiter keeps a bounded cache
// of them (hits and misses) which the process that changes an override
// invalidates. Another process of the same server would keep its cached
// answer until it restarts or evicts it: when Myelin runs several
// processes, changes must be broadcast to them.

// OverrideLoader reads a user's override from the database; ok false if
// the user has none.
type OverrideLoader func(ctx context.Context, userID string) (l Limit, ok bool, err error)

// maxCachedOverrides bounds the override cache; past it, arbitrary entries
// are dropped (each is cheap to read again).
const maxCachedOverrides = 10_000

type overrideEntry struct {
	limit Limit
	ok    bool
}

type overrides struct {
	load OverrideLoader

	mu    sync.Mutex
	cache map[string]overrideEntry
}

// SetOverrides makes the limiter apply per-user overrides read by load.
// Call it before the limiter is used.
func (l *Limiter) SetOverrides(load OverrideLoader) {
	if l != nil {
		l.overrides = &overrides{load: load, cache: map[string]overrideEntry{}}
	}
}

// InvalidateOverride forgets the cached override of userID, after it
// changed.
func (l *Limiter) InvalidateOverride(userID string) {
	if l == nil || l.overrides == nil {
		return
	}
	l.overrides.mu.Lock()
	delete(l.overrides.cache, userID)
	l.overrides.mu.Unlock()
}

func (o *overrides) get(ctx context.Context, userID string) (overrideEntry, error) {
	o.mu.Lock()
	e, hit := o.cache[userID]
	o.mu.Unlock()
	if hit {
		return e, nil
	}
	lim, ok, err := o.load(ctx, userID)
	if err != nil {
		return overrideEntry{}, err
	}
	e = overrideEntry{limit: lim, ok: ok}
	o.mu.Lock()
	if len(o.cache) >= maxCachedOverrides {
		for k := range o.cache {
			delete(o.cache, k)
			if len(o.cache) < maxCachedOverrides/2 {
				break
			}
		}
	}
	o.cache[userID] = e
	o.mu.Unlock()
	return e, nil
}

// TakeFor is Take for a request of userID: with an override whose rate is
// 0 it draws on nothing; with another override, its rc_message costs use
// the override's rate and burst instead of rc_message's (in buckets of
// their own, so that changing the override starts afresh).
func (l *Limiter) TakeFor(ctx context.Context, userID string, costs ...Cost) error {
	if l == nil {
		return nil
	}
	if l.overrides != nil && userID != "" {
		e, err := l.overrides.get(ctx, userID)
		if err != nil {
			return err
		}
		if e.ok {
			if e.limit.exempts() {
				return nil
			}
			costs = append([]Cost(nil), costs...)
			for i := range costs {
				if costs[i].Action == Message {
					lim := e.limit
					costs[i].limit = &lim
				}
			}
		}
	}
	return l.Take(costs...)
}

// overrideTable returns the table of the buckets drawn at lim instead of
// a's configured limit, creating it.
func (l *Limiter) overrideTable(a Action, lim Limit) *table {
	k := overrideKey{a, lim}
	t := l.custom[k]
	if t == nil {
		t = newTable(lim)
		if l.custom == nil {
			l.custom = map[overrideKey]*table{}
		}
		l.custom[k] = t
	}
	return t
}

type overrideKey struct {
	action Action
	limit  Limit
}

// exempts reports whether an override lifts every limit: a rate of 0 (or
// one that is not a number), whatever the burst.
func (l Limit) exempts() bool {
	return !(l.PerSecond > 0)
}
