package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/keystore"
)

// KeyRequest asks for a server's key before verifying something it signed.
type KeyRequest struct {
	Server string
	KeyID  signing.KeyID
	// MinValidTS is the time (ms) the key must be valid at: an event's
	// origin_server_ts in room versions 5+, now for a request signature.
	// 0 or less asks for the key whatever its validity (room versions
	// 1–4, where valid_until_ts "MUST be ignored").
	MinValidTS int64
}

// Client is the federation client the ring fetches with (fedclient.Client
// satisfies it). Errors for non-2xx answers should carry the status.
type Client interface {
	Get(ctx context.Context, destination, path string, out any) error
	Post(ctx context.Context, destination, path string, body, out any) error
}

// Store persists fetched keys (keystore.Store satisfies it).
type Store interface {
	Save(ctx context.Context, resp keystore.Response, keys []keystore.Key) error
	Keys(ctx context.Context, server string) ([]keystore.Key, error)
	Response(ctx context.Context, server string) (*keystore.Response, error)
}

// Notary is a trusted key server (trusted_key_servers).
type Notary struct {
	ServerName string
	// VerifyKeys pins the notary's keys: its answers must carry a valid
	// signature by at least one of them. Empty means its answers are
	// trusted on the strength of the TLS connection alone, as Synapse
	// does; only allow that with certificate verification on.
	VerifyKeys map[signing.KeyID]ed25519.PublicKey
}

// Config configures a KeyRing.
type Config struct {
	// Publisher holds our own keys, which are never fetched.
	Publisher *Publisher
	Store     Store
	Client    Client
	// Notaries are asked first, in order, as Synapse does; servers they
	// cannot vouch for are then asked directly.
	Notaries []Notary
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// RefetchInterval is the least time between two fetches of one
	// server's keys, so that events or requests naming key IDs that do
	// not exist cannot make us hammer that server or a notary (default 1
	// minute). After failed fetches the wait doubles up to MaxBackoff
	// (default 10 minutes).
	RefetchInterval time.Duration
	MaxBackoff      time.Duration
	// FetchConcurrency bounds parallel direct fetches (default 8).
	FetchConcurrency int
}

// Errors from Prefetch and RequestKey.
var (
	// ErrKeyNotFound: the key is unknown (or not valid at the time asked)
	// even after trying to fetch it.
	ErrKeyNotFound = errors.New("keys: signing key not found")
	// ErrRateLimited: the server's keys were fetched too recently to ask
	// again yet.
	ErrRateLimited = errors.New("keys: key fetch rate-limited")
)

// KeyRing holds other servers' verify keys in memory, backed by the key
// store, and fetches missing ones directly or through notaries.
//
// VerifyKey only looks up (no I/O), as event.KeyRing requires; call
// Prefetch first with every key a batch of events needs.
type KeyRing struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	servers map[string]*serverState
}

// serverState is what the ring knows about one server. Guarded by
// KeyRing.mu.
type serverState struct {
	keys      map[signing.KeyID]keystore.Key
	loaded    bool          // the store has been read
	nextFetch time.Time     // rate limit: no fetch before this
	failures  int           // consecutive unsatisfied fetches
	inflight  chan struct{} // non-nil while a fetch runs; closed when done
}

// maxIdleServers bounds how many servers without any key the ring keeps
// state for (their rate-limit timers), so names made up by an attacker do
// not grow it without bound.
const maxIdleServers = 10000

// New returns a KeyRing.
func New(cfg Config) (*KeyRing, error) {
	if cfg.Publisher == nil || cfg.Store == nil || cfg.Client == nil {
		return nil, errors.New("keys: KeyRing needs a Publisher, a Store and a Client")
	}
	for _, n := range cfg.Notaries {
		if !ids.ValidServerName(n.ServerName) {
			return nil, fmt.Errorf("keys: trusted key server %q is not a server name", n.ServerName)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = time.Minute
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.FetchConcurrency <= 0 {
		cfg.FetchConcurrency = 8
	}
	return &KeyRing{cfg: cfg, log: cfg.Log, servers: map[string]*serverState{}}, nil
}

// ServerName is our own server name.
func (k *KeyRing) ServerName() string { return k.cfg.Publisher.ServerName() }

// Publisher returns the publisher of our own keys.
func (k *KeyRing) Publisher() *Publisher { return k.cfg.Publisher }

// VerifyKey implements event.KeyRing with key validity enforced (room
// versions 5+): a key is returned only if it was valid at ts. Use
// Verifier(false) for room versions 1–4. It never does I/O.
func (k *KeyRing) VerifyKey(server string, keyID signing.KeyID, ts int64) (ed25519.PublicKey, bool) {
	return k.lookup(server, keyID, ts, true, false)
}

// Verifier returns an event.KeyRing view that enforces key validity or not,
// per roomversion.Version.EnforceKeyValidity.
func (k *KeyRing) Verifier(enforceValidity bool) event.KeyRing {
	return verifier{k: k, enforce: enforceValidity}
}

type verifier struct {
	k       *KeyRing
	enforce bool
}

func (v verifier) VerifyKey(server string, keyID signing.KeyID, ts int64) (ed25519.PublicKey, bool) {
	return v.k.lookup(server, keyID, ts, v.enforce, false)
}

// lookup answers from memory. With enforce, a key is valid for ts when ts
// is at most its bound (keystore.Key.ValidBound): a key past its validity
// is never accepted for something made after it. currentOnly refuses keys
// the server only listed as old (request signatures must use current
// keys: old_verify_keys "are only valid for signing events").
func (k *KeyRing) lookup(server string, keyID signing.KeyID, ts int64, enforce, currentOnly bool) (ed25519.PublicKey, bool) {
	if server == k.cfg.Publisher.ServerName() {
		return k.cfg.Publisher.key(keyID, ts, enforce, currentOnly)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.servers[server]
	if st == nil {
		return nil, false
	}
	key, ok := st.keys[keyID]
	if !ok || (currentOnly && key.ExpiredTS != 0) {
		return nil, false
	}
	if enforce && ts > key.ValidBound() {
		return nil, false
	}
	return key.PublicKey, true
}

// satisfiedLocked reports whether memory already answers r. Called with
// k.mu held.
func (k *KeyRing) satisfiedLocked(st *serverState, r KeyRequest) bool {
	if st == nil {
		return false
	}
	key, ok := st.keys[r.KeyID]
	if !ok {
		return false
	}
	return r.MinValidTS <= 0 || r.MinValidTS <= key.ValidBound()
}

// Prefetch makes sure the ring holds every requested key with the
// validity asked for, reading the store and then fetching what is still
// missing: first from the notaries, in one batched query each, then
// directly from each server. Keys of our own server are never fetched.
//
// It returns nil when every request is satisfied, and otherwise an error
// naming what is still missing (wrapping ErrKeyNotFound or
// ErrRateLimited). Callers verifying events may ignore it: VerifyKey then
// simply does not find the missing keys.
func (k *KeyRing) Prefetch(ctx context.Context, reqs []KeyRequest) error {
	return k.prefetch(ctx, reqs, true)
}

func (k *KeyRing) prefetch(ctx context.Context, reqs []KeyRequest, useNotaries bool) error {
	byServer := map[string][]KeyRequest{}
	for _, r := range reqs {
		if r.Server == k.ServerName() || !ids.ValidServerName(r.Server) {
			continue
		}
		byServer[r.Server] = append(byServer[r.Server], r)
	}
	if len(byServer) == 0 {
		return nil
	}
	for server := range byServer {
		if err := k.ensureLoaded(ctx, server); err != nil {
			return err
		}
	}

	// Claim the servers that still need a fetch; wait for those another
	// goroutine is already fetching.
	mine := map[string][]KeyRequest{}
	var waits []chan struct{}
	limited := map[string]bool{}
	now := k.cfg.Now()
	k.mu.Lock()
	for server, rs := range byServer {
		st := k.stateLocked(server)
		if k.allSatisfiedLocked(st, rs) {
			continue
		}
		claimed, wait, rateLimited := k.claimLocked(st, now)
		switch {
		case claimed:
			mine[server] = rs
		case wait != nil:
			waits = append(waits, wait)
		case rateLimited:
			limited[server] = true
		}
	}
	k.mu.Unlock()

	if len(mine) > 0 {
		k.fetch(ctx, mine, useNotaries)
		k.mu.Lock()
		for server, rs := range mine {
			st := k.stateLocked(server)
			k.finishLocked(st, k.allSatisfiedLocked(st, rs))
		}
		k.mu.Unlock()
	}
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	var missing []error
	k.mu.Lock()
	for server, rs := range byServer {
		st := k.servers[server]
		for _, r := range rs {
			if !k.satisfiedLocked(st, r) {
				kind := ErrKeyNotFound
				if limited[server] {
					kind = ErrRateLimited
				}
				missing = append(missing, fmt.Errorf("%w: %s %s (valid at %d)", kind, server, r.KeyID, r.MinValidTS))
			}
		}
	}
	k.mu.Unlock()
	return errors.Join(missing...)
}

func (k *KeyRing) allSatisfiedLocked(st *serverState, rs []KeyRequest) bool {
	for _, r := range rs {
		if !k.satisfiedLocked(st, r) {
			return false
		}
	}
	return true
}

// stateLocked returns server's state, creating it. Called with k.mu held.
func (k *KeyRing) stateLocked(server string) *serverState {
	st := k.servers[server]
	if st == nil {
		if len(k.servers) >= maxIdleServers {
			k.sweepLocked()
		}
		st = &serverState{keys: map[signing.KeyID]keystore.Key{}}
		k.servers[server] = st
	}
	return st
}

// sweepLocked forgets servers we hold no keys for and are not fetching.
// Their rate-limit timers go too; that is the price of a bounded map.
func (k *KeyRing) sweepLocked() {
	for name, st := range k.servers {
		if len(st.keys) == 0 && st.inflight == nil {
			delete(k.servers, name)
		}
	}
}

// claimLocked decides whether the caller may fetch st's keys now: it
// claims the fetch (claimed), or must wait for the fetch another goroutine
// is running (wait), or must not fetch before st.nextFetch (rateLimited).
// A claimer must call finishLocked. Called with k.mu held.
func (k *KeyRing) claimLocked(st *serverState, now time.Time) (claimed bool, wait chan struct{}, rateLimited bool) {
	switch {
	case st.inflight != nil:
		return false, st.inflight, false
	case now.Before(st.nextFetch):
		return false, nil, true
	}
	st.inflight = make(chan struct{})
	return true, nil, false
}

// finishLocked records the outcome of a claimed fetch for the rate limit
// and wakes the goroutines waiting on it. After a fetch that got what was
// needed the next one may come after RefetchInterval; after a failure the
// wait doubles each time up to MaxBackoff. Called with k.mu held.
func (k *KeyRing) finishLocked(st *serverState, ok bool) {
	now := k.cfg.Now()
	if ok {
		st.failures = 0
		st.nextFetch = now.Add(k.cfg.RefetchInterval)
	} else {
		st.failures++
		wait := k.cfg.RefetchInterval << min(st.failures-1, 16)
		st.nextFetch = now.Add(min(wait, k.cfg.MaxBackoff))
	}
	if st.inflight != nil {
		close(st.inflight)
		st.inflight = nil
	}
}

// ensureLoaded reads server's keys from the store the first time the ring
// needs them.
func (k *KeyRing) ensureLoaded(ctx context.Context, server string) error {
	k.mu.Lock()
	st := k.servers[server]
	loaded := st != nil && st.loaded
	k.mu.Unlock()
	if loaded {
		return nil
	}
	stored, err := k.cfg.Store.Keys(ctx, server)
	if err != nil {
		return fmt.Errorf("keys: loading keys of %s: %w", server, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	st = k.stateLocked(server)
	for _, key := range stored {
		k.mergeLocked(st, key)
	}
	st.loaded = true
	return nil
}

// mergeLocked adds key unless a version valid for longer is already known,
// the rule keystore.Store.Save applies too.
func (k *KeyRing) mergeLocked(st *serverState, key keystore.Key) {
	if old, ok := st.keys[key.KeyID]; ok && old.ValidBound() > key.ValidBound() {
		return
	}
	st.keys[key.KeyID] = key
}

// RequestKey returns the public key that must have signed a request from
// server with keyID, fetching it if needed (inbound X-Matrix
// authentication). The key must be one of the server's current keys and
// valid now.
func (k *KeyRing) RequestKey(ctx context.Context, server string, keyID signing.KeyID) (ed25519.PublicKey, error) {
	now := k.cfg.Now().UnixMilli()
	if pub, ok := k.lookup(server, keyID, now, true, true); ok {
		return pub, nil
	}
	if server == k.ServerName() {
		return nil, fmt.Errorf("%w: %s is not one of our keys", ErrKeyNotFound, keyID)
	}
	err := k.Prefetch(ctx, []KeyRequest{{Server: server, KeyID: keyID, MinValidTS: now}})
	if pub, ok := k.lookup(server, keyID, now, true, true); ok {
		return pub, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: %s of %s", ErrKeyNotFound, keyID, server)
	}
	return nil, err
}
