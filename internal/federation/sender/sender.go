// Package sender is the federation sender: it delivers this server's PDUs
// and EDUs to other servers as transactions, PUT
// /_matrix/federation/v1/send/{txnId} (server-server-api "Transactions").
//
// Each destination has its own queue and at most one transaction in flight:
// the spec requires the sender to "wait and retry for a 200 OK response
// before sending a transaction with a different txnId". A transaction
// carries at most 50 PDUs and 100 EDUs. A failed transaction is retried
// with the same ID and the same body, so the receiver's deduplication by
// transaction ID works, after an exponential backoff with jitter (2 s
// doubling to 1 h by default); MarkAlive cuts the backoff short when the
// destination contacts us.
//
// PDUs and durable EDUs (m.direct_to_device) are persisted (package
// fedqueue) before SendPDU/SendEDU return, and leave the store only once
// the destination answered 200, so nothing queued is lost on restart.
// After a long outage, when a destination's backlog grows past a bound,
// the backlog collapses to the latest PDU of each room: the remote then
// fetches the gap with /get_missing_events ("Backfilling and retrieving
// missing events"). This is what Synapse calls catch-up.
package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/prometheus/client_golang/prometheus"
)

// Transport sends one transaction. body is the transaction JSON (origin,
// origin_server_ts, pdus, edus); the transport signs the request (X-Matrix)
// and PUTs it to /_matrix/federation/v1/send/{txnID} on destination.
//
// It returns the decoded 200 response, or an error for anything else:
// network failures, timeouts and non-200 statuses. An error that wraps
// ErrRejected means the destination refused this body for good (see
// ErrRejected); every other error is retried with the same ID and body.
type Transport interface {
	SendTransaction(ctx context.Context, destination, txnID string, body []byte) (*TransactionResponse, error)
}

// RoomServers answers which servers are in a room: the servers of its
// joined members (the sender removes its own name).
type RoomServers interface {
	ServersInRoom(ctx context.Context, roomID string) ([]string, error)
}

// ErrRejected, wrapped by a Transport error, says the destination answered
// in a way that retrying the same transaction can never change (for
// example 400 M_NOT_JSON or 413): the sender then drops the transaction's
// PDUs and EDUs for that destination instead of retrying them forever,
// since the spec forbids moving on to another transaction ID before a 200.
// The remote can still fetch the PDUs later through /get_missing_events.
// Statuses that may pass (5xx, 429, 401 during a key rotation, 404 from a
// proxy) must not wrap it.
var ErrRejected = errors.New("federation sender: destination rejected the transaction")

// Store is the persistence the sender needs; *fedqueue.Store implements it.
type Store interface {
	EnqueuePDUs(ctx context.Context, pdus []fedqueue.NewPDU, nowMS int64) (int, error)
	EnqueueEDU(ctx context.Context, eduType string, content []byte, destinations []string, nowMS int64) error
	PeekPDUs(ctx context.Context, destination string, limit int) ([]fedqueue.QueuedPDU, error)
	PeekEDUs(ctx context.Context, destination string, limit int) ([]fedqueue.QueuedEDU, error)
	CountPDUs(ctx context.Context, destination string, limit int) (int, error)
	Acknowledge(ctx context.Context, d fedqueue.Delivery) (int, error)
	Discard(ctx context.Context, d fedqueue.Delivery) (int, error)
	CollapseToLatestPerRoom(ctx context.Context, destination string) (int, error)
	SetRetry(ctx context.Context, destination string, r fedqueue.Retry) error
	Pending(ctx context.Context) ([]fedqueue.Destination, error)
	SweepOrphans(ctx context.Context) (int, error)
	NewEpoch(ctx context.Context, nowMS int64) (int64, error)
}

// Spec limits per transaction (server-server-api "Transactions").
const (
	MaxPDUsPerTransaction = 50
	MaxEDUsPerTransaction = 100
)

// Config holds what the sender needs. Zero durations and counts take the
// defaults named in each field's comment.
type Config struct {
	// ServerName is this server's name: the transactions' origin, and a
	// destination the sender never sends to.
	ServerName string
	Store      Store
	Transport  Transport
	// Rooms, if set, supplies each PDU's destinations from its room (see
	// SendPDU); without it only explicit destinations are used.
	Rooms RoomServers

	// Now is the clock (default time.Now).
	Now func() time.Time
	// After waits out backoffs (default time.After). Tests inject a fake
	// that they fire by hand.
	After func(time.Duration) <-chan time.Time
	// Rand returns a number in [0, 1) for backoff jitter (default
	// math/rand/v2.Float64); 0.5 means no jitter.
	Rand func() float64
	// Log receives failures, backoffs and catch-ups (default slog.Default()).
	Log *slog.Logger
	// Registerer, if set, receives the sender's Prometheus metrics (the
	// same numbers as Stats).
	Registerer prometheus.Registerer

	// MinBackoff is the wait after a first failure (default 2 s); each
	// further failure doubles it up to MaxBackoff (default 1 h).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// While a destination is failing, its PDU backlog collapses to the
	// latest PDU per room once it holds more than CatchUpBacklog PDUs
	// (default 1000) or its oldest PDU is older than CatchUpAge (default
	// 1 h). A negative value disables that criterion.
	CatchUpBacklog int
	CatchUpAge     time.Duration
	// MaxEphemeralEDUs bounds the in-memory EDUs waiting per destination
	// (default 500); beyond it the oldest are dropped.
	MaxEphemeralEDUs int
	// StopTimeout bounds how long Stop lets in-flight transactions finish
	// (default 10 s).
	StopTimeout time.Duration
}

// Sender delivers PDUs and EDUs to other servers. Create it with New.
type Sender struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	epoch int64
	seq   atomic.Int64 // transaction counter within this epoch

	mu      sync.Mutex
	dests   map[string]*destQueue
	started bool
	stopped bool
	stopCh  chan struct{}
	ctx     context.Context // workers' context: sends and database work
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a sender; Start begins delivery.
func New(cfg Config) *Sender {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.CatchUpBacklog == 0 {
		cfg.CatchUpBacklog = 1000
	}
	if cfg.CatchUpAge == 0 {
		cfg.CatchUpAge = time.Hour
	}
	if cfg.MaxEphemeralEDUs <= 0 {
		cfg.MaxEphemeralEDUs = 500
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	s := &Sender{
		cfg:    cfg,
		log:    cfg.Log.With("component", "federation-sender"),
		dests:  map[string]*destQueue{},
		stopCh: make(chan struct{}),
	}
	s.m = newMetrics(s)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.m); err != nil {
			s.log.Warn("federation sender metrics not registered", "err", err)
		}
	}
	return s
}

// Start resumes the queues persisted by earlier runs and starts delivering.
// Work queued before Start waits for it. Cancelling ctx aborts delivery at
// once; Stop ends it gracefully.
func (s *Sender) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return errors.New("federation sender: Start called twice or after Stop")
	}
	s.mu.Unlock()

	epoch, err := s.cfg.Store.NewEpoch(ctx, s.nowMS())
	if err != nil {
		return err
	}
	if n, err := s.cfg.Store.SweepOrphans(ctx); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("removed orphaned queued PDUs", "count", n)
	}
	pending, err := s.cfg.Store.Pending(ctx)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("federation sender: Start called twice or after Stop")
	}
	s.epoch = epoch
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.started = true
	var queued int64
	for _, d := range pending {
		queued += int64(d.QueuedPDUs)
		if d.Name == s.cfg.ServerName || !ids.ValidServerName(d.Name) {
			continue // not ours to send; stays stored, visible in Pending
		}
		q := s.queueLocked(d.Name)
		if d.Retry.AtMS > 0 || d.Retry.FailingSinceMS > 0 {
			q.backoff = time.Duration(d.Retry.IntervalMS) * time.Millisecond
			if d.Retry.AtMS > 0 {
				q.retryAt = time.UnixMilli(d.Retry.AtMS)
			}
			if d.Retry.FailingSinceMS > 0 {
				q.failingSince = time.UnixMilli(d.Retry.FailingSinceMS)
			}
			s.m.setBackingOff(q, true)
		}
	}
	s.m.pdusQueued.Store(queued)
	for _, q := range s.dests {
		s.kickLocked(q)
	}
	if len(pending) > 0 {
		s.log.Info("resuming federation queues", "destinations", len(pending), "queued_pdus", queued, "epoch", epoch)
	}
	return nil
}

// Stop ends delivery: no new transaction starts, transactions in flight get
// up to Config.StopTimeout to finish (and be acknowledged), and everything
// not acknowledged stays persisted for the next Start. Safe to call more
// than once, and before Start.
func (s *Sender) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.stopCh)
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		return // never started
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("federation transactions still in flight at shutdown; abandoning them (they stay queued)")
		cancel()
		<-done
	}
	cancel()
}

// MarkAlive tells the sender that destination just contacted us, so a
// backoff in progress is cut short and its queue is retried now. It is
// cheap enough to call on every inbound federation request.
func (s *Sender) MarkAlive(destination string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.dests[destination]
	if !ok || (q.backoff == 0 && q.retryAt.IsZero()) {
		return
	}
	q.backoff = 0
	q.retryAt = time.Time{}
	s.m.setBackingOff(q, false)
	select {
	case q.alive <- struct{}{}:
	default:
	}
}

// destQueue is one destination's queue state in memory; the PDUs and
// durable EDUs themselves are in the store.
type destQueue struct {
	name  string
	alive chan struct{} // MarkAlive's signal to a worker waiting out a backoff

	// Guarded by Sender.mu.
	running      bool // a worker goroutine owns this queue
	dirty        bool // something was queued since the worker last looked
	ephemeral    []EDU
	backoff      time.Duration // current interval before jitter; 0 when healthy
	retryAt      time.Time     // no attempt before this (zero: none pending)
	failingSince time.Time     // start of the current run of failures
	countedBack  bool          // counted in the backing-off gauge

	// Owned by the worker goroutine.
	pinned *transaction // built, sent at least once, not yet answered 200
}

func (s *Sender) queueLocked(name string) *destQueue {
	q, ok := s.dests[name]
	if !ok {
		q = &destQueue{name: name, alive: make(chan struct{}, 1)}
		s.dests[name] = q
	}
	return q
}

// kickLocked notes new work for q and starts its worker if none runs.
func (s *Sender) kickLocked(q *destQueue) {
	q.dirty = true
	if q.running || !s.started || s.stopped {
		return
	}
	q.running = true
	s.wg.Add(1)
	s.m.workers.Add(1)
	go s.work(q)
}

func (s *Sender) nowMS() int64 { return s.cfg.Now().UnixMilli() }

// nextTxnID returns a transaction ID unique per destination: the epoch
// makes it unique across restarts on the same database, the counter
// within this run.
func (s *Sender) nextTxnID() string {
	return fmt.Sprintf("%d.%d", s.epoch, s.seq.Add(1))
}
