package discovery

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// SRV results are cached so that a resolver that is slow or fails does not
// cost every request its wait. net.Resolver does not report record TTLs,
// so lifetimes are fixed and bounded.
const (
	// SRVFoundTTL is how long SRV records (or their absence) are kept.
	SRVFoundTTL = 10 * time.Minute
	// SRVFailedTTL is how long a failed lookup (timeout, SERVFAIL) is
	// remembered; short, as the failure may be transient.
	SRVFailedTTL = time.Minute
	// SRVLookupTimeout bounds one SRV query. The step after it still has
	// the rest of the request's time.
	SRVLookupTimeout = 5 * time.Second
)

type srvEntry struct {
	recs    []*net.SRV
	err     error // a failure, not "no records"
	expires time.Time
}

// srvCache keeps SRV answers by "_service._tcp.host", bounded in entries.
type srvCache struct {
	mu  sync.Mutex
	m   map[string]srvEntry
	max int
	now func() time.Time
}

func newSRVCache(max int, now func() time.Time) *srvCache {
	return &srvCache{m: map[string]srvEntry{}, max: max, now: now}
}

// lookup answers from the cache or asks dns (bounded in time), caching the
// answer: records and "not found" for SRVFoundTTL, failures for
// SRVFailedTTL. A failure is returned as it is; callers fall through.
func (c *srvCache) lookup(ctx context.Context, dns DNS, service, host string) ([]*net.SRV, error) {
	key := "_" + service + "._tcp." + host
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.recs, e.err
	}
	qctx, cancel := context.WithTimeout(ctx, SRVLookupTimeout)
	_, recs, err := dns.LookupSRV(qctx, service, "tcp", host)
	cancel()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // the request gave up: nothing learned
	}
	e = srvEntry{recs: recs, expires: now.Add(SRVFoundTTL)}
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			e.recs = nil
		} else {
			e = srvEntry{err: err, expires: now.Add(SRVFailedTTL)}
		}
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			c.m = map[string]srvEntry{} // all fresh: start afresh rather than grow
		}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e.recs, e.err
}
