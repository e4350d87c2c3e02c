package users

import (
	"context"
	"sync"
	"time"
)

// Erasure (client-server-api "Account deactivation", erase; spec v1.10):
// the rooms engine asks, for every timeline it serves, which of its local
// senders were erased. Answers are cached per user, bounded, for
// erasedTTL: the process that erases or reactivates a user forgets its
// entry at once, and another process of the same server sees the change
// within erasedTTL.

const (
	erasedTTL       = time.Minute
	maxErasedCached = 50_000
)

type erasedEntry struct {
	erased bool
	at     time.Time
}

type erasureCache struct {
	mu sync.Mutex
	m  map[string]erasedEntry
}

func (c *erasureCache) forget(userID string) {
	c.mu.Lock()
	delete(c.m, userID)
	c.mu.Unlock()
}

// ErasedSenders reports which of userIDs (local users) were deactivated
// with erase; the map holds only those (nil when none).
func (s *Service) ErasedSenders(ctx context.Context, userIDs []string) (map[string]bool, error) {
	now := s.now()
	var out map[string]bool // nil until someone is erased: the usual answer
	var miss []string
	c := &s.erased
	c.mu.Lock()
	for _, id := range userIDs {
		if e, ok := c.m[id]; ok && now.Sub(e.at) < erasedTTL {
			if e.erased {
				if out == nil {
					out = map[string]bool{}
				}
				out[id] = true
			}
			continue
		}
		miss = append(miss, id)
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	got, err := s.store.ErasedUsers(ctx, miss)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(miss) > maxErasedCached {
		c.m = make(map[string]erasedEntry, len(miss))
	}
	for _, id := range miss {
		c.m[id] = erasedEntry{erased: got[id], at: now}
		if got[id] {
			if out == nil {
				out = map[string]bool{}
			}
			out[id] = true
		}
	}
	return out, nil
}
