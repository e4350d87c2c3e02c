package roomstore

import (
	"container/list"
	"sync"
)

// membershipCache keeps, for recently active users, their latest membership
// in every room as of a stable stream position. Every /sync starts from
// those memberships; for a user in 1 000 rooms, reading them from
// membership_log costs 1 000 rows per request, while bringing a cached copy
// forward costs one indexed read that usually finds nothing.
//
// The cache is bounded by the number of memberships it holds, so one user
// in many rooms weighs what they cost. Lists are never modified once
// stored: an update stores a new list, and readers share the old one.
type membershipCache struct {
	mu    sync.Mutex
	max   int // memberships held, over all users
	n     int
	ll    *list.List
	items map[string]*list.Element
}

// DefaultMembershipCacheSize bounds the membership cache: ~100 bytes each
// plus the room and event IDs' strings.
const DefaultMembershipCacheSize = 100000

type userMemberships struct {
	user string
	pos  int64        // every membership_log row at or below pos is reflected
	list []Membership // latest per room, in order of first appearance
}

func newMembershipCache(max int) *membershipCache {
	return &membershipCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *membershipCache) get(user string) *userMemberships {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[user]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*userMemberships)
	}
	return nil
}

// put stores um unless the cache already holds a later position for the
// user (two syncs racing: the later view wins).
func (c *membershipCache) put(um *userMemberships) {
	if len(um.list) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[um.user]; ok {
		old := el.Value.(*userMemberships)
		if old.pos >= um.pos {
			c.ll.MoveToFront(el)
			return
		}
		c.n += len(um.list) - len(old.list)
		el.Value = um
		c.ll.MoveToFront(el)
	} else {
		c.items[um.user] = c.ll.PushFront(um)
		c.n += len(um.list)
	}
	for c.n > c.max {
		last := c.ll.Back()
		old := last.Value.(*userMemberships)
		c.ll.Remove(last)
		delete(c.items, old.user)
		c.n -= len(old.list)
	}
}

// Len is the number of memberships held (for metrics and tests).
func (c *membershipCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// applyMemberships returns the latest memberships after adding changes (in
// stream order) to latest, without modifying latest.
func applyMemberships(latest []Membership, changes []Membership) []Membership {
	if len(changes) == 0 {
		return latest
	}
	out := make([]Membership, len(latest), len(latest)+len(changes))
	copy(out, latest)
	index := make(map[string]int, len(out))
	for i, m := range out {
		index[m.RoomID] = i
	}
	for _, m := range changes {
		if i, ok := index[m.RoomID]; ok {
			out[i] = m
		} else {
			index[m.RoomID] = len(out)
			out = append(out, m)
		}
	}
	return out
}

// forget drops the given users' entries; their next read rebuilds them.
func (c *membershipCache) forget(users []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range users {
		if el, ok := c.items[u]; ok {
			c.ll.Remove(el)
			delete(c.items, u)
		}
	}
}
