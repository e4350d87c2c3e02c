package roomstore

import (
	"fmt"
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
