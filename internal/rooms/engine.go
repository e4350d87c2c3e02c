// Package rooms is the room engine: it builds, authorises and persists the
// events of local users, one writer goroutine per room, and answers state
// questions. Events of one room are persisted in order by that room's actor;
// rooms proceed in parallel and no lock spans two rooms.
package rooms

import (
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

	hookMu sync.RWMutex
	hooks  []func([]Committed)

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
}

// New returns an engine.
func New(c Config) *Engine {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return &Engine{store: c.Store, serverName: c.ServerName, key: c.Key, stream: c.Stream, notifier: c.Notifier,
		now: c.Now, log: c.Log, actors: map[string]*actor{}, creating: map[string]bool{}}
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
	}
	e.notifier.Wake(wake...)
	e.hookMu.RLock()
	hooks := e.hooks
	e.hookMu.RUnlock()
	for _, h := range hooks {
		h(batch)
	}
}

// actorFor returns the room's actor, starting it if needed.
func (e *Engine) actorFor(roomID string) *actor {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.actors[roomID]
	if !ok {
		a = newActor(e, roomID)
		e.actors[roomID] = a
		go a.run()
	}
	return a
}

// Close stops every actor after its queued work.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, a := range e.actors {
		close(a.reqs)
		<-a.done
		delete(e.actors, id)
	}
}

func (e *Engine) nowMS() int64 { return e.now().UnixMilli() }

// Notifier wakes /sync waiters when their users' rooms change.
func (e *Engine) Notifier() *streams.Notifier { return e.notifier }

// Stream is the events stream tracker.
func (e *Engine) Stream() *streams.Tracker { return e.stream }
