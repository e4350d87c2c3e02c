package syncapi

import "sync"

// TaggedCache keeps one value per user, valid for one tag: what the value
// was read at (stream positions, the question asked). A get with another
// tag misses. It holds at most max users; past that an arbitrary one is
// dropped. Values are shared between callers, who must not modify them.
// The zero value is not usable; see NewTaggedCache.
type TaggedCache[T comparable, V any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]taggedEntry[T, V]
}

type taggedEntry[T comparable, V any] struct {
	tag T
	v   V
}

// NewTaggedCache returns a cache of at most max users.
func NewTaggedCache[T comparable, V any](max int) *TaggedCache[T, V] {
	return &TaggedCache[T, V]{max: max, entries: map[string]taggedEntry[T, V]{}}
}

// Get returns the user's value if it was put with tag.
func (c *TaggedCache[T, V]) Get(userID string, tag T) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[userID]
	if !ok || e.tag != tag {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put sets the user's value, read at tag.
func (c *TaggedCache[T, V]) Put(userID string, tag T, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[userID]; !ok && len(c.entries) >= c.max {
		for u := range c.entries { // map order: an arbitrary victim
			delete(c.entries, u)
			break
		}
	}
	c.entries[userID] = taggedEntry[T, V]{tag: tag, v: v}
}
