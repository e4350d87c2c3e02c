package syncapi

import (
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// forcedCollections counts the collections forced by the program
// (runtime.GC, debug.FreeOSMemory) so far.
func forcedCollections() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A large sync's memory goes back to the system once the burst is over,
// by a forced collection and scavenge, and an ordinary sync never forces
// one. The threshold and quiet period are made small here; the server
// uses largeResponseBytes and releaseQuiet.
func TestLargeSyncsReturnMemoryOnceQuiet(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		w.say(w.room("@alice:hs1"), "@alice:hs1", "hello")

		w.s.release.threshold = 1 << 30
		if _, err := w.s.SyncJSON(w.ctx, Request{UserID: "@alice:hs1", DeviceID: "D"}); err != nil {
			t.Fatal(err)
		}
		w.s.release.mu.Lock()
		armed := w.s.release.timer != nil
		w.s.release.mu.Unlock()
		if armed {
			t.Fatal("a small response armed the release")
		}

		w.s.release.threshold, w.s.release.quiet = 1, time.Millisecond
		before := forcedCollections()
		if _, err := w.s.SyncJSON(w.ctx, Request{UserID: "@alice:hs1", DeviceID: "D"}); err != nil {
			t.Fatal(err)
		}
		// A bound on a test that would otherwise hang, not a timing
		// assertion.
		deadline := time.Now().Add(time.Minute)
		for forcedCollections() == before {
			if time.Now().After(deadline) {
				t.Fatal("no collection forced after a large response")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// While an initial sync is built the collector runs at burstGCPercent,
// and once the last one is done it goes back to what it was; a GOGC
// already lower (or off) is left alone.
func TestInitialSyncsLowerTheCollectorsPercentWhileBuilt(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	var r releaser
	r.enter()
	r.enter()
	if got := gcPercent(); got != burstGCPercent {
		t.Fatalf("GOGC while building: %d, want %d", got, burstGCPercent)
	}
	r.exit()
	if got := gcPercent(); got != burstGCPercent {
		t.Fatalf("GOGC with one build left: %d, want %d", got, burstGCPercent)
	}
	r.exit()
	if got := gcPercent(); got != 100 {
		t.Fatalf("GOGC after the builds: %d, want 100 back", got)
	}

	for _, set := range []int{20, -1} {
		debug.SetGCPercent(set)
		r.enter()
		if got := gcPercent(); got != set {
			t.Errorf("GOGC %d while building: %d, want it left alone", set, got)
		}
		r.exit()
		if got := gcPercent(); got != set {
			t.Errorf("GOGC %d after the build: %d", set, got)
		}
	}
}
