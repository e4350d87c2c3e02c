package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

// RateLimit is one of Synapse's rc_* settings: actions refill at PerSecond
// up to BurstCount.
type RateLimit struct {
	PerSecond  float64
	BurstCount float64
}

// DefaultMaxKeys bounds how many keys a Limiter tracks at once.
const DefaultMaxKeys = 100_000

// Limiter is a token bucket per key (a user ID or client IP), with Synapse's
// rc_* meaning: a key may act BurstCount times at once and then PerSecond
// times a second on average.
//
// A nil *Limiter allows everything, which is how rate limiting is switched
// off. Methods are safe for concurrent use.
//
// Memory is bounded: a bucket that has refilled completely is identical to a
// fresh one and is dropped; if more than MaxKeys keys are still refilling
// (an attacker cycling through addresses), arbitrary ones are dropped, which
// at worst forgives some of their debt.
type Limiter struct {
	rate    float64
	burst   float64
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter for rl. now is the clock (nil means
// time.Now), replaceable so tests need not sleep. A limit with a
// non-positive rate or burst cannot let anything through ever again once
// spent, which is never what an operator means; NewLimiter returns nil
// (no limit) for it.
func NewLimiter(rl RateLimit, now func() time.Time) *Limiter {
	if rl.PerSecond <= 0 || rl.BurstCount <= 0 || math.IsInf(rl.PerSecond, 0) || math.IsNaN(rl.PerSecond) {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		rate:    rl.PerSecond,
		burst:   math.Max(rl.BurstCount, 1),
		now:     now,
		maxKeys: DefaultMaxKeys,
		buckets: make(map[string]*bucket),
		sweepAt: 1024,
	}
}

// SetMaxKeys changes the bound on tracked keys (for tests and tuning).
func (l *Limiter) SetMaxKeys(n int) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	l.maxKeys = n
	l.sweepAt = min(l.sweepAt, n)
	l.mu.Unlock()
}

// Allow takes one action for key if the bucket has room. When it has not,
// it returns false and how long until it will.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.take(key, true, false)
}

// Peek reports whether Allow would succeed, without taking an action. Login
// uses it for rc_login.failed_attempts: check before verifying a password,
// Charge only when the password was wrong.
func (l *Limiter) Peek(key string) (ok bool, retryAfter time.Duration) {
	return l.take(key, false, false)
}

// Charge takes one action for key even if that exhausts the bucket.
func (l *Limiter) Charge(key string) {
	l.take(key, true, true)
}

// Check is Allow returning a ready 429 M_LIMIT_EXCEEDED error.
func (l *Limiter) Check(key string) error {
	if ok, retry := l.Allow(key); !ok {
		return merr.LimitExceeded(retry)
	}
	return nil
}

// Len is the number of keys currently tracked.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Limiter) take(key string, consume, force bool) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()

	b := l.buckets[key]
	tokens := l.burst
	if b != nil {
		tokens = l.level(b, now)
	}
	if tokens < 1 && !force {
		wait := time.Duration(math.Ceil((1 - tokens) / l.rate * float64(time.Second)))
		return false, wait
	}
	if !consume {
		return true, 0
	}
	if b == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = &bucket{}
		l.buckets[key] = b
	}
	b.tokens, b.last = tokens-1, now
	return true, 0
}

// level is the bucket's tokens at now.
func (l *Limiter) level(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.last).Seconds()
	if elapsed < 0 {
		elapsed = 0
	}
	return math.Min(l.burst, b.tokens+elapsed*l.rate)
}

// sweep drops full buckets, then arbitrary ones if still over maxKeys-1, and
// sets the next sweep threshold so that sweeping stays amortised O(1).
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.level(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
	l.sweepAt = min(max(2*len(l.buckets), 1024), l.maxKeys)
}
