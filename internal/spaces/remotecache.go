package spaces

import (
	"container/list"
	"sync"
	"time"
)

// Other servers' answers to GET /_matrix/federation/v1/hierarchy are kept
// for a while, as Synapse does (its federation client's
// get_room_hierarchy_cache: at most 1 000 answers, by room and
// suggested_only, each kept 5 minutes from when it was fetched, whichever
// server gave it): a client paging through a space, or several users
// opening it, ask the remote servers once. Some staleness is what the
// spec's hierarchy allows anyway (a room may change between pages).
// Per process: another process asks again.
const (
	remoteCacheSize = 1000
	remoteCacheTTL  = 5 * time.Minute
)

type remoteKey struct {
	roomID        string
	suggestedOnly bool
}

type remoteEntry struct {
	key     remoteKey
	fh      FedHierarchy
	expires time.Time
}

// remoteCache is a bounded cache of remote hierarchy answers: the least
// recently stored goes first when full, and an entry expires ttl after it
// was stored (reading it does not extend it).
type remoteCache struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	order *list.List // of *remoteEntry, newest at the front
	byKey map[remoteKey]*list.Element
}

func newRemoteCache(size int, ttl time.Duration, now func() time.Time) *remoteCache {
	if now == nil {
		now = time.Now
	}
	return &remoteCache{size: size, ttl: ttl, now: now, order: list.New(), byKey: map[remoteKey]*list.Element{}}
}

// get returns a copy of the answer for key, if one is held and fresh.
func (c *remoteCache) get(key remoteKey) (*FedHierarchy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byKey[key]
	if el == nil {
		return nil, false
	}
	e := el.Value.(*remoteEntry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.byKey, key)
		return nil, false
	}
	fh := e.fh // the caller may set fields of its copy; the slices are only read
	return &fh, true
}

// put stores an answer for key.
func (c *remoteCache) put(key remoteKey, fh *FedHierarchy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byKey[key]; el != nil {
		c.order.Remove(el)
	}
	c.byKey[key] = c.order.PushFront(&remoteEntry{key: key, fh: *fh, expires: c.now().Add(c.ttl)})
	for c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*remoteEntry).key)
	}
}
