package roomstore

import (
	"container/list"
	"sync"

	"github.com/myelin-chat/myelin/internal/event"
)

// eventCache keeps recently read events, parsed. Events are immutable, so
// entries never go stale; only the local metadata around them (stream
// position, redaction, rejection) is always read from the database.
type eventCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	id string
	ev *event.Event
}

func newEventCache(max int) *eventCache {
	// The map grows as events are read: sized for max up front, it would
	// cost ~2 MB at start whatever the server holds.
	return &eventCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *eventCache) get(id string) *event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*cacheEntry).ev
	}
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
	c.items[id] = c.ll.PushFront(&cacheEntry{id: id, ev: ev})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).id)
	}
}

// Len is the number of cached events (for metrics).
func (c *eventCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
