package roomstore

import (
	"container/list"
	"sync"

	"github.com/myelin-chat/myelin/internal/event"
)

// eventCache keeps recently read events, parsed. Events are immutable, so
// entries never go stale; only the local metadata around them (stream
// position, redaction, rejection) is always read from the database.
//
// It is bounded by the memory its events take as well as by their number:
// events range from a few hundred bytes to 64 KiB of JSON, so a count alone
// bounds nothing.
type eventCache struct {
	mu       sync.Mutex
	max      int
	maxBytes int
	bytes    int // sum of the entries' costs
	ll       *list.List
	items    map[string]*list.Element
	// hits and misses count get's answers (for metrics).
	hits, misses int64
}

type cacheEntry struct {
	id   string
	ev   *event.Event
	cost int
}

// eventOverhead approximates what a parsed event takes besides its JSON and
// content: the Event and its prev and auth event lists, ~300 bytes on the
// events of new rooms (event.BenchmarkRetainedEvent; its identifiers are
// interned, so shared between events), and the cache's own list element
// and map entry.
const eventOverhead = 450

// eventCost is the memory an event is taken to hold in the cache. Its
// content is a slice of its JSON (see event.Event.Content), so it is not
// counted twice.
func eventCost(ev *event.Event) int {
	return eventOverhead + len(ev.JSON()) + len(ev.Unsigned())
}

func newEventCache(max, maxBytes int) *eventCache {
	// The map grows as events are read: sized for max up front, it would
	// cost ~2 MB at start whatever the server holds.
	return &eventCache{max: max, maxBytes: maxBytes, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *eventCache) get(id string) *event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.ll.MoveToFront(el)
		c.hits++
		return el.Value.(*cacheEntry).ev
	}
	c.misses++
	return nil
}

func (c *eventCache) put(ev *event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := ev.EventID()
	if el, ok := c.items[id]; ok {
		c.ll.MoveToFront(el)
		return
	}
	cost := eventCost(ev)
	if cost > c.maxBytes {
		return // would only push everything else out
	}
	c.items[id] = c.ll.PushFront(&cacheEntry{id: id, ev: ev, cost: cost})
	c.bytes += cost
	for c.ll.Len() > c.max || c.bytes > c.maxBytes {
		last := c.ll.Back()
		c.ll.Remove(last)
		e := last.Value.(*cacheEntry)
		delete(c.items, e.id)
		c.bytes -= e.cost
	}
}

// Len is the number of cached events (for metrics).
func (c *eventCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Bytes is the cached events' estimated size (for metrics and tests).
func (c *eventCache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// EventCacheStats describes the parsed-event cache (for metrics).
type EventCacheStats struct {
	Entries, Bytes int
	Hits, Misses   int64
}

// EventCacheStats returns the parsed-event cache's size and counters.
func (s *Store) EventCacheStats() EventCacheStats {
	c := s.events
	c.mu.Lock()
	defer c.mu.Unlock()
	return EventCacheStats{Entries: c.ll.Len(), Bytes: c.bytes, Hits: c.hits, Misses: c.misses}
}

// forgetRoom drops a purged room's events.
func (c *eventCache) forgetRoom(roomID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*cacheEntry); e.ev.RoomID() == roomID {
			c.ll.Remove(el)
			delete(c.items, e.id)
			c.bytes -= e.cost
		}
		el = next
	}
}
