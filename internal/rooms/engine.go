// Package rooms is the room engine: it builds, authorises and persists the
// events of local users, one writer goroutine per room, and answers state
// questions. Events of one room are persisted in order by that room's actor;
// rooms proceed in parallel and no lock spans two rooms.
package rooms

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/streams"
)

// Committed describes an event that has just been made durable.
type Committed struct {
	Event     *event.Event
	StreamPos int64
	// Wake lists users whose /sync may now see something new.
	Wake []string
}

// Engine owns the room actors.
type Engine struct {
	store      *roomstore.Store
	serverName string
	key        signing.SigningKey
	stream     *streams.Tracker
	notifier   *streams.Notifier
	now        func() time.Time
	log        *slog.Logger

	mu       sync.Mutex
	actors   map[string]*actor
	creating map[string]bool // room IDs being created
	// upgrading holds the rooms being upgraded, closed when done.
	upgrading map[string]chan struct{}
	closed    bool
	// idle is how long a room stays in memory without work; it reloads
	// from the database on next use.
	idle time.Duration

	hookMu sync.RWMutex
	hooks  []func([]Committed)
	// preCommit derives rows written in the events' own transaction
	// (SetPreCommitter); nil for none.
	preCommit PreCommitter

	// erasure tells which local senders were erased (nil: none).
	erasure ErasedSenders

	// policy asks rooms' Policy Servers to sign events (nil: never).
	policy PolicySigner

	// Backfill: one fetch per room at a time, and the lowest stream
	// position handed out (backfilled events sit below all others).
	bfMu        sync.Mutex
	bfBusy      map[string]chan struct{}
	bfMin       int64
	bfMinLoaded bool
}

// Config holds what the engine needs.
type Config struct {
	Store      *roomstore.Store
	ServerName string
	Key        signing.SigningKey
	Stream     *streams.Tracker
	Notifier   *streams.Notifier
	Now        func() time.Time
	Log        *slog.Logger
	// IdleTimeout is how long a room's actor and in-memory state outlive
	// its last request (DefaultIdleTimeout if zero).
	IdleTimeout time.Duration
}

// DefaultIdleTimeout keeps a room in memory for a while after its last
// request: long enough that a conversation's pauses don't reload it, short
// enough that memory follows the rooms in use rather than every room ever
// touched.
const DefaultIdleTimeout = 5 * time.Minute

// New returns an engine.
func New(c Config) *Engine {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return &Engine{store: c.Store, serverName: c.ServerName, key: c.Key, stream: c.Stream, notifier: c.Notifier,
		now: c.Now, log: c.Log, actors: map[string]*actor{}, creating: map[string]bool{}, upgrading: map[string]chan struct{}{}, idle: c.IdleTimeout}
}

// Store returns the rooms storage.
func (e *Engine) Store() *roomstore.Store { return e.store }

// ServerName is the local server's name.
func (e *Engine) ServerName() string { return e.serverName }

// OnCommit registers fn to run after each committed batch (federation
// sender, push, …). fn must not block for long.
func (e *Engine) OnCommit(fn func([]Committed)) {
	e.hookMu.Lock()
	e.hooks = append(e.hooks, fn)
	e.hookMu.Unlock()
}

func (e *Engine) committed(batch []Committed) {
	var wake []string
	for _, c := range batch {
		wake = append(wake, c.Wake...)
		// Readers of one room who need not be its members (peeking
		// through GET /events) listen on the room's key; a key woken
		// twice costs a map look-up.
		if c.Event != nil {
			wake = append(wake, streams.RoomKey(c.Event.RoomID()))
		}
	}
	e.notifier.Wake(wake...)
	e.hookMu.RLock()
	hooks := e.hooks
	e.hookMu.RUnlock()
	for _, h := range hooks {
		h(batch)
	}
}

// submit queues r on the room's actor, starting one if the room has none in
// memory, and waits for its result.
//
// An actor leaves memory only while no request holds it (see retire), and
// requests take their hold under the same lock that retire checks, so a
// request never reaches an actor that has stopped, and a room never has two
// actors (two writers) at once.
func (e *Engine) submit(ctx context.Context, roomID string, r *request) ([]*event.Event, error) {
	a := e.acquire(roomID)
	defer e.release(a)
	return a.submit(ctx, r)
}

// acquire returns the room's actor with a hold on it, creating it and
// starting its goroutine if needed. Every acquire is paired with a
// release.
func (e *Engine) acquire(roomID string) *actor {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.actors[roomID]
	if !ok {
		a = newActor(e, roomID)
		e.actors[roomID] = a
	}
	a.holds++
	if a.done == nil {
		a.done = make(chan struct{})
		a.parks++ // a pending eviction is void
		go a.run(a.done)
	}
	return a
}

func (e *Engine) release(a *actor) {
	e.mu.Lock()
	a.holds--
	e.mu.Unlock()
}

// park ends the actor's goroutine, which has found its queue empty, unless
// a request holds the actor (it has queued a request, or is about to).
// Every held request is answered before its hold is released, so a parked
// actor has nothing queued, and the next request starts a goroutine again.
// The room's state stays in memory, without a goroutine, stack or queue
// being served, until it has been idle for e.idle: 5 000 rooms touched
// once kept 5 000 goroutines (~5 KiB of stack each, which the collector
// also scans) for their whole idle timeout.
func (e *Engine) park(a *actor) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a.holds > 0 {
		return false
	}
	a.done = nil
	if e.closed {
		return true // nothing evicts after Close
	}
	a.parks++
	gen := a.parks
	if a.evict != nil {
		a.evict.Stop()
	}
	a.evict = time.AfterFunc(e.idle, func() { e.evict(a, gen) })
	return true
}

// evict removes a room parked since park's gen from memory: once removed
// no request can reach its actor, and the next one for the room creates a
// fresh actor, which loads the room from the database. An actor that ran
// again since (parks moved on) or runs now is left alone.
func (e *Engine) evict(a *actor, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a.parks != gen || a.done != nil || a.holds > 0 || e.closed || e.actors[a.roomID] != a {
		return
	}
	delete(e.actors, a.roomID)
}

// RoomsInMemory is the number of rooms whose actor and current state are
// in memory (for metrics and tests).
func (e *Engine) RoomsInMemory() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.actors)
}

// Close stops every actor after its queued work.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	running := map[*actor]chan struct{}{}
	for _, a := range e.actors {
		if a.evict != nil {
			a.evict.Stop()
		}
		if a.done != nil {
			running[a] = a.done
		}
	}
	e.actors = map[string]*actor{}
	e.mu.Unlock()
	// Without the lock: an actor whose queue empties now parks for good.
	for a, done := range running {
		close(a.reqs)
		<-done
	}
}

func (e *Engine) nowMS() int64 { return e.now().UnixMilli() }

// Notifier wakes /sync waiters when their users' rooms change.
func (e *Engine) Notifier() *streams.Notifier { return e.notifier }

// Stream is the events stream tracker.
func (e *Engine) Stream() *streams.Tracker { return e.stream }

// PurgeRoom removes a room from storage (an admin's room deletion). It
// runs in the room's actor, so no write to the room interleaves with it,
// and the actor drops its state: later requests find no room. Other
// domains' data about the room is the caller's to purge.
func (e *Engine) PurgeRoom(ctx context.Context, roomID string) error {
	_, err := e.submit(ctx, roomID, &request{template: func(a *actor) error {
		err := e.store.PurgeRoom(ctx, roomID)
		a.st = nil
		a.txns = nil
		return err
	}})
	return err
}
