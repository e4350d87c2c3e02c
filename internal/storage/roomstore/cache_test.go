package roomstore

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
)

// Cached snapshots are bounded by their entries as well as their number: a
// big room whose members join one by one would otherwise keep a full copy
// of its member list per join.
func TestSnapshotCacheBoundedByEntries(t *testing.T) {
	s := &Store{snaps: map[int64]StateMap{}}
	members := func(n int) StateMap {
		m := StateMap{}
		for i := 0; i < n; i++ {
			m[event.StateTuple{Type: event.TypeMember, StateKey: fmt.Sprintf("@u%d:hs", i)}] = "$e"
		}
		return m
	}
	const size = 1000
	for id := int64(1); id <= 3*snapCacheMaxEntries/size; id++ {
		s.cacheSnapshot(id, members(size))
		if s.snapEntries > snapCacheMaxEntries {
			t.Fatalf("after %d snapshots: %d entries cached, bound %d", id, s.snapEntries, snapCacheMaxEntries)
		}
	}
	total := 0
	for _, m := range s.snaps {
		total += len(m)
	}
	if total != s.snapEntries || len(s.snaps) == 0 {
		t.Errorf("count says %d entries, the cache holds %d in %d snapshots", s.snapEntries, total, len(s.snaps))
	}
}

// The parsed-event cache is bounded by the memory its events take, not
// only by their number: events of up to 64 KiB would otherwise let a cache
// of 50 000 entries hold gigabytes.
func TestEventCacheBoundedByBytes(t *testing.T) {
	const budget = 1 << 20
	c := newEventCache(1000, budget)
	big := func(i int) *event.Event {
		body := strings.Repeat("x", 30000)
		return buildEvent(t, &event.Builder{Type: event.TypeMessage, Sender: "@a:hs1", RoomID: "!r:hs1",
			PrevEvents: []string{"$p"}, AuthEvents: []string{"$a"}, Depth: int64(i + 1), OriginServerTS: 1,
			Content: json.RawMessage(`{"body":"` + body + `","n":` + strconv.Itoa(i) + `}`)})
	}
	var last *event.Event
	for i := range 100 {
		last = big(i)
		c.put(last)
		if c.Bytes() > budget {
			t.Fatalf("after %d events: %d bytes cached, budget %d", i+1, c.Bytes(), budget)
		}
	}
	if n := c.Len(); n == 0 || n >= 100 {
		t.Errorf("%d of 100 events of ~60 KB cached in 1 MiB", n)
	}
	if c.get(last.EventID()) == nil {
		t.Error("the newest event was evicted")
	}
	// An event bigger than the whole budget is not cached at all, rather
	// than emptying the cache for itself.
	small := newEventCache(1000, 10000)
	small.put(big(0))
	if small.Len() != 0 || small.Bytes() != 0 {
		t.Errorf("an event over the budget was cached: %d entries, %d bytes", small.Len(), small.Bytes())
	}
}

// Under a soft memory limit (GOMEMLIMIT) the event cache takes at most a
// quarter of it; without one, its default budget.
func TestEventCacheBudgetFollowsTheMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	debug.SetMemoryLimit(math.MaxInt64)
	if got := eventCacheBytes(); got != DefaultEventCacheBytes {
		t.Errorf("without a limit: %d bytes, want %d", got, DefaultEventCacheBytes)
	}
	debug.SetMemoryLimit(200 << 20)
	if got := eventCacheBytes(); got != 50<<20 {
		t.Errorf("under a 200 MiB limit: %d bytes, want 50 MiB", got)
	}
	debug.SetMemoryLimit(1 << 40)
	if got := eventCacheBytes(); got != DefaultEventCacheBytes {
		t.Errorf("under a 1 TiB limit: %d bytes, want the default %d", got, DefaultEventCacheBytes)
	}
}
