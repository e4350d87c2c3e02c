package httpapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// Synapse rc_* semantics: burst_count actions at once, then per_second.
func TestLimiter_BurstThenRefill(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLimiter(RateLimit{PerSecond: 0.5, BurstCount: 3}, clock.now)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("action %d refused within burst", i+1)
		}
	}
	ok, retry := l.Allow("alice")
	if ok || retry != 2*time.Second {
		t.Fatalf("4th action: ok=%v retry=%v, want refused with 2s", ok, retry)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("keys must not share a bucket")
	}
	clock.advance(1 * time.Second)
	if ok, retry := l.Allow("alice"); ok || retry != time.Second {
		t.Fatalf("after 1s: ok=%v retry=%v, want refused with 1s", ok, retry)
	}
	clock.advance(1 * time.Second)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("after 2s one action must be allowed again")
	}
}

func TestLimiter_PeekDoesNotConsumeAndChargeAlwaysDoes(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := NewLimiter(RateLimit{PerSecond: 1, BurstCount: 1}, clock.now)
	for i := 0; i < 5; i++ {
		if ok, _ := l.Peek("k"); !ok {
			t.Fatal("Peek consumed")
		}
	}
	l.Charge("k")
	l.Charge("k") // goes into debt
	if ok, retry := l.Peek("k"); ok || retry != 2*time.Second {
		t.Fatalf("after two charges: ok=%v retry=%v, want 2s", ok, retry)
	}
}

func TestLimiter_CheckReturnsLimitExceeded(t *testing.T) {
	l := NewLimiter(RateLimit{PerSecond: 1, BurstCount: 1}, (&fakeClock{}).now)
	if err := l.Check("k"); err != nil {
		t.Fatal(err)
	}
	err := l.Check("k")
	if me, ok := merr.As(err); !ok || !errors.Is(err, merr.ErrLimitExceeded) || me.RetryAfter != time.Second {
		t.Fatalf("err = %#v", err)
	}
}

func TestLimiter_NilAndNonsenseLimitsAllowEverything(t *testing.T) {
	var l *Limiter
	for i := 0; i < 100; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("nil limiter refused")
		}
	}
	if NewLimiter(RateLimit{PerSecond: 0, BurstCount: 5}, nil) != nil {
		t.Error("per_second 0 should disable the limiter")
	}
	if NewLimiter(RateLimit{PerSecond: 1, BurstCount: 0}, nil) != nil {
		t.Error("burst_count 0 should disable the limiter")
	}
}

func TestLimiter_MemoryIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := NewLimiter(RateLimit{PerSecond: 1, BurstCount: 2}, clock.now)
	l.SetMaxKeys(100)
	for i := 0; i < 10_000; i++ {
		l.Allow(fmt.Sprint("ip-", i))
		if n := l.Len(); n > 100 {
			t.Fatalf("tracking %d keys, bound is 100", n)
		}
	}
	// Idle buckets refill and are dropped at the next sweep.
	clock.advance(time.Hour)
	for i := 0; i < 100; i++ {
		l.Allow(fmt.Sprint("new-", i))
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("tracking %d keys after refill", n)
	}
}
