package bgupdates

import (
	"context"
	"testing"
	"time"
)

// A running update is listed with its items and duration until it ends;
// while updates are paused, Wait blocks until they are resumed (or the
// context ends).
func TestRegistry_ReportsAndPauses(t *testing.T) {
	now := time.Unix(100, 0)
	r := New(func() time.Time { return now })
	u := r.Begin("search_index_backfill")
	u.Processed(500)
	u.Processed(20)
	now = now.Add(2 * time.Second)
	got := r.Running()
	if len(got) != 1 || got[0].Name != "search_index_backfill" || got[0].Items != 520 || got[0].Duration != 2*time.Second {
		t.Fatalf("running: %+v", got)
	}

	r.SetEnabled(false)
	if r.Enabled() {
		t.Fatal("still enabled after pausing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.Wait(ctx); err == nil {
		t.Fatal("Wait returned while paused")
	}
	resumed := make(chan error, 1)
	go func() { resumed <- u.Wait(context.Background()) }()
	r.SetEnabled(true)
	if err := <-resumed; err != nil {
		t.Fatal(err)
	}
	if err := u.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	u.End()
	if got := r.Running(); len(got) != 0 {
		t.Fatalf("after End: %+v", got)
	}
	var none *Registry
	none.Begin("x").Processed(1)
	if !none.Enabled() || none.Running() != nil {
		t.Error("a nil registry must be inert")
	}
}
