package spaces

import (
	"testing"
	"time"
)

// Remote hierarchy answers are kept for the TTL from when they were
// stored (a read does not extend it), per room and suggested_only, and
// the oldest go first beyond the size.
func TestRemoteCache_ExpiresAndIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newRemoteCache(2, time.Minute, func() time.Time { return now })
	answer := func(room string) *FedHierarchy {
		fh := &FedHierarchy{}
		fh.Room.RoomID = room
		return fh
	}
	a, aSuggested, b, d := remoteKey{"!a:x", false}, remoteKey{"!a:x", true}, remoteKey{"!b:x", false}, remoteKey{"!d:x", false}
	c.put(a, answer("!a:x"))
	if _, ok := c.get(aSuggested); ok {
		t.Error("suggested_only answered from the full answer")
	}
	now = now.Add(59 * time.Second)
	if fh, ok := c.get(a); !ok || fh.Room.RoomID != "!a:x" {
		t.Errorf("fresh answer: %+v, %v", fh, ok)
	}
	now = now.Add(time.Second)
	if _, ok := c.get(a); ok {
		t.Error("answer kept past its TTL")
	}
	c.put(a, answer("!a:x"))
	c.put(b, answer("!b:x"))
	c.put(d, answer("!d:x"))
	if _, ok := c.get(a); ok {
		t.Error("oldest answer kept beyond the size")
	}
	if _, ok := c.get(d); !ok {
		t.Error("newest answer lost")
	}
	fh, _ := c.get(b)
	fh.Room.RoomID = "changed"
	if again, _ := c.get(b); again.Room.RoomID != "!b:x" {
		t.Error("a caller's change reached the cache")
	}
}
