package ratelimit

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

func retryOf(t *testing.T, err error) time.Duration {
	t.Helper()
	me, ok := merr.As(err)
	if !ok || !errors.Is(err, merr.ErrLimitExceeded) || me.Code != merr.CodeLimitExceeded {
		t.Fatalf("err = %v, want M_LIMIT_EXCEEDED", err)
	}
	return me.RetryAfter
}

// Synapse rc_* semantics: burst_count actions at once, then per_second.
func TestLimiter_BurstThenRefill(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(map[Action]Limit{Message: {PerSecond: 0.5, BurstCount: 3}}, clock.now)
	for i := 0; i < 3; i++ {
		if err := l.Check(Message, "alice"); err != nil {
			t.Fatalf("action %d refused within burst: %v", i+1, err)
		}
	}
	if retry := retryOf(t, l.Check(Message, "alice")); retry != 2*time.Second {
		t.Fatalf("4th action: retry %v, want 2s", retry)
	}
	if err := l.Check(Message, "bob"); err != nil {
		t.Fatal("keys must not share a bucket")
	}
	clock.advance(time.Second)
	if retry := retryOf(t, l.Check(Message, "alice")); retry != time.Second {
		t.Fatalf("after 1s: retry %v, want 1s", retry)
	}
	clock.advance(time.Second)
	if err := l.Check(Message, "alice"); err != nil {
		t.Fatal("after 2s one action must be allowed again")
	}
}

// One key under two actions is two buckets: spending rc_message does not
// touch rc_room_creation.
func TestLimiter_ActionsDoNotShareBuckets(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{Message: {1, 1}, RoomCreation: {1, 1}}, clock.now)
	if err := l.Check(Message, "@a:x"); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(RoomCreation, "@a:x"); err != nil {
		t.Fatalf("room creation shares the message bucket: %v", err)
	}
}

func TestLimiter_PeekDoesNotConsumeAndChargeAlwaysDoes(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{LoginFailed: {PerSecond: 1, BurstCount: 1}}, clock.now)
	for i := 0; i < 5; i++ {
		if err := l.Peek(LoginFailed, "k"); err != nil {
			t.Fatal("Peek consumed")
		}
	}
	l.Charge(LoginFailed, "k")
	l.Charge(LoginFailed, "k") // goes into debt
	if retry := retryOf(t, l.Peek(LoginFailed, "k")); retry != 2*time.Second {
		t.Fatalf("after two charges: retry %v, want 2s", retry)
	}
}

// A request drawing on several buckets takes from all or from none, so a
// refused invite does not use up the room's allowance.
func TestLimiter_TakeIsAllOrNothing(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{InvitesPerRoom: {1, 2}, InvitesPerUser: {1, 1}}, clock.now)
	invite := func(room, user string) error {
		return l.Take(Cost{Action: InvitesPerRoom, Key: room}, Cost{Action: InvitesPerUser, Key: user})
	}
	if err := invite("!r", "@bob"); err != nil {
		t.Fatal(err)
	}
	retryOf(t, invite("!r", "@bob")) // bob's bucket is empty
	if err := invite("!r", "@carol"); err != nil {
		t.Fatalf("the refused invite spent the room's token: %v", err)
	}
}

// n_actions: a createRoom with three invitees counts three against the
// room's invite bucket; more than the burst never passes.
func TestLimiter_CostOfSeveralActions(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{InvitesPerRoom: {1, 5}}, clock.now)
	if err := l.Take(Cost{Action: InvitesPerRoom, Key: "!r", N: 3}); err != nil {
		t.Fatal(err)
	}
	if retry := retryOf(t, l.Take(Cost{Action: InvitesPerRoom, Key: "!r", N: 3})); retry != time.Second {
		t.Fatalf("retry %v, want 1s for the missing token", retry)
	}
	retryOf(t, l.Take(Cost{Action: InvitesPerRoom, Key: "!other", N: 6}))
}

// rc_joins_per_room: joins are recorded as they happen (Charge), new ones
// only test the bucket (CheckOnly).
func TestLimiter_CheckOnlyTestsWithoutSpending(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{JoinsPerRoom: {1, 2}}, clock.now)
	for i := 0; i < 5; i++ {
		if err := l.Take(Cost{Action: JoinsPerRoom, Key: "!r", CheckOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	l.Charge(JoinsPerRoom, "!r")
	l.Charge(JoinsPerRoom, "!r")
	retryOf(t, l.Take(Cost{Action: JoinsPerRoom, Key: "!r", CheckOnly: true}))
}

func TestLimiter_NilAndDisabledLimitsAllowEverything(t *testing.T) {
	var nilLimiter *Limiter
	l := New(map[Action]Limit{Message: {0, 5}, Registration: {1, 0}}, nil)
	for i := 0; i < 100; i++ {
		for _, lim := range []*Limiter{nilLimiter, l} {
			if err := lim.Check(Message, "k"); err != nil {
				t.Fatal(err)
			}
			if err := lim.Check(Registration, "k"); err != nil {
				t.Fatal(err)
			}
			if err := lim.Check(JoinsLocal, "k"); err != nil {
				t.Fatal("an unconfigured action must not be limited")
			}
		}
	}
	if l.Enabled(Message) || l.Enabled(Registration) || nilLimiter.Enabled(Message) {
		t.Fatal("per_second 0 or burst_count 0 turns a limit off")
	}
}

func TestLimiter_MemoryIsBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	l := New(map[Action]Limit{Registration: {1, 2}, Message: {1, 2}}, clock.now)
	l.SetMaxKeys(100)
	l.Check(Message, "@alice:x")
	l.Check(Message, "@alice:x")
	for i := 0; i < 10_000; i++ {
		l.Check(Registration, fmt.Sprint("ip-", i))
		if n := l.Len(Registration); n > 100 {
			t.Fatalf("tracking %d keys, bound is 100", n)
		}
	}
	// A flood of one action leaves the others' buckets alone.
	retryOf(t, l.Check(Message, "@alice:x"))
	// Idle buckets refill and are dropped at the next sweep.
	clock.advance(time.Hour)
	for i := 0; i < 100; i++ {
		l.Check(Registration, fmt.Sprint("new-", i))
	}
	if n := l.Len(Registration); n > 100 {
		t.Fatalf("tracking %d keys after refill", n)
	}
}

// BenchmarkLimiterCheck measures one rate-limit check across many keys.
func BenchmarkLimiterCheck(b *testing.B) {
	for _, keys := range []int{10, 10_000} {
		b.Run(fmt.Sprint(keys, "keys"), func(b *testing.B) {
			l := New(map[Action]Limit{Message: {1000, 1000}}, time.Now)
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprint("@user", i, ":example.org")
			}
			i := 0
			for b.Loop() {
				_ = l.Check(Message, names[i%keys])
				i++
			}
		})
	}
}
