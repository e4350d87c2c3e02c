package ratelimit

import (
	"context"
	"testing"
	"time"
)

// Synapse's override_ratelimit: an override replaces rc_message's rate and
// burst for that user only; a rate of 0 exempts the user from every limit,
// a burst of 0 does not; the
// cached override is read again after InvalidateOverride.
func TestLimiter_OverridesPerUser(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := New(map[Action]Limit{Message: {PerSecond: 0.1, BurstCount: 1}, RoomCreation: {PerSecond: 0.1, BurstCount: 1}}, clock.now)
	stored := map[string]Limit{"@fast:x": {PerSecond: 10, BurstCount: 5}, "@free:x": {}, "@noburst:x": {PerSecond: 10},
		"@norate:x": {BurstCount: 5}}
	loads := 0
	l.SetOverrides(func(_ context.Context, userID string) (Limit, bool, error) {
		loads++
		lim, ok := stored[userID]
		return lim, ok, nil
	})
	ctx := context.Background()
	msg := func(u string) error { return l.TakeFor(ctx, u, Cost{Action: Message, Key: u}) }

	for i := range 5 {
		if err := msg("@fast:x"); err != nil {
			t.Fatalf("overridden burst of 5, message %d: %v", i+1, err)
		}
	}
	retryOf(t, msg("@fast:x"))
	if err := msg("@plain:x"); err != nil {
		t.Fatal(err)
	}
	retryOf(t, msg("@plain:x"))
	for range 20 {
		if err := l.TakeFor(ctx, "@free:x", Cost{Action: Message, Key: "@free:x"}, Cost{Action: RoomCreation, Key: "@free:x"}); err != nil {
			t.Fatalf("0/0 must exempt from every limit: %v", err)
		}
	}
	// A rate of 0 exempts whatever the burst, as Synapse's limiters read
	// only the rate.
	for range 20 {
		if err := l.TakeFor(ctx, "@norate:x", Cost{Action: Message, Key: "@norate:x"}, Cost{Action: RoomCreation, Key: "@norate:x"}); err != nil {
			t.Fatalf("a rate of 0 must exempt from every limit: %v", err)
		}
	}
	// A burst of 0 with a rate is a limit, not an exemption: the bucket
	// holds one message, and the other limits still apply.
	if err := msg("@noburst:x"); err != nil {
		t.Fatal(err)
	}
	retryOf(t, msg("@noburst:x"))
	if err := l.TakeFor(ctx, "@noburst:x", Cost{Action: RoomCreation, Key: "@noburst:x"}); err != nil {
		t.Fatal(err)
	}
	retryOf(t, l.TakeFor(ctx, "@noburst:x", Cost{Action: RoomCreation, Key: "@noburst:x"}))
	// The override's rate applies to rc_message only.
	if err := l.TakeFor(ctx, "@fast:x", Cost{Action: RoomCreation, Key: "@fast:x"}); err != nil {
		t.Fatal(err)
	}
	retryOf(t, l.TakeFor(ctx, "@fast:x", Cost{Action: RoomCreation, Key: "@fast:x"}))

	before := loads
	_ = msg("@plain:x")
	if loads != before {
		t.Error("a user without an override was read again: misses must be cached too")
	}
	stored["@plain:x"] = Limit{}
	l.InvalidateOverride("@plain:x")
	if err := msg("@plain:x"); err != nil {
		t.Fatalf("after the override was set and invalidated: %v", err)
	}
}
