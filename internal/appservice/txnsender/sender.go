// Package txnsender pushes to application services what interests them
// (application-service-api "Pushing events"): per appservice, one worker
// follows the room event stream and the ephemeral streams from positions
// stored in appservicestore, builds transactions of at most 100 events and
// 100 ephemeral events (Synapse's limits), stores each one before sending
// it, and sends them one at a time, in order, retrying with exponential
// backoff while the appservice is down. A transaction is deleted when the
// appservice acknowledges it, so after a restart the worker re-sends the
// one in flight, with its ID and body unchanged, and never one already
// acknowledged.
package txnsender

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/presence"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/appservicestore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/typing"
)

// Pusher sends one transaction to one appservice: PUT
// {url}/_matrix/app/v1/transactions/{txnId} with the hs_token. A nil error
// means the appservice answered 2xx.
type Pusher interface {
	PushTransaction(ctx context.Context, txnID string, body []byte) error
}

// Interest is what a registration's namespaces match
// (application-service-api "Registration").
type Interest interface {
	IsInterestedInUser(userID string) bool
	IsInterestedInRoomID(roomID string) bool
	IsInterestedInAlias(alias string) bool
	// IsExclusiveUser: the user is in an exclusive users namespace, so
	// the appservice is the only reader of the user's devices.
	IsExclusiveUser(userID string) bool
}

// AppService is what the sender needs of one registration.
type AppService struct {
	// ID is the registration's id; it keys the stored queue and positions.
	ID string
	// SenderUserID is the appservice's own user (sender_localpart).
	SenderUserID string
	Interest     Interest
	// Ephemeral is receive_ephemeral (MSC2409's push_ephemeral): typing,
	// receipts and presence ride along in transactions.
	Ephemeral bool
	// ToDevice asks for the to-device messages of the appservice's users'
	// devices (MSC2409, now MSC4203: de.sorunome.msc2409.to_device).
	ToDevice bool
	// DeviceLists asks for device list changes of users in rooms of
	// interest (MSC3202: org.matrix.msc3202.device_lists), and the key
	// counts of the devices of the users a transaction mentions.
	DeviceLists bool
	// Pusher is nil for a registration without a url: it is sent nothing.
	Pusher Pusher
}

// Limits of one transaction, as Synapse sets them.
const (
	MaxEvents    = 100
	MaxEphemeral = 100
	MaxToDevice  = 100
	// maxDeviceListUsers bounds the users one transaction reports changed
	// (as /sync's device lists, internal/e2ee).
	maxDeviceListUsers = 10000
)

// Default backoff while an appservice is down: doubling from a second,
// capped at five minutes (the spec asks for exponential backoff; Synapse
// caps its recoverer's wait at a few minutes too).
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Config builds a Sender.
type Config struct {
	Store       *appservicestore.Store
	Rooms       *rooms.Engine
	AppServices []AppService
	// Typing, Presence, Receipts and ReceiptStore feed ephemeral events;
	// nil leaves them out.
	Typing       *typing.Service
	Presence     *presence.Service
	Receipts     *receipts.Service
	ReceiptStore *receiptstore.Store
	// ToDevice and DeviceLists feed to-device messages and device list
	// changes; nil leaves them out.
	ToDevice    *e2ee.ToDeviceStream
	DeviceLists *e2ee.DeviceListStream
	// KeyCounts gives the one-time key counts and unused fallback key
	// types of a user's devices (e2ee.Service.UserKeyCounts), sent with
	// DeviceLists; nil leaves them out.
	KeyCounts  func(ctx context.Context, userID string) (map[string]map[string]int, map[string][]string, error)
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

// Sender runs one worker per appservice that has a url.
type Sender struct {
	cfg     Config
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// New returns a stopped Sender positioned at each appservice's stored
// positions. An appservice seen for the first time starts at the streams'
// current positions: it is sent what happens from now on, as Synapse does.
func New(ctx context.Context, cfg Config) (*Sender, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	s := &Sender{cfg: cfg, stop: make(chan struct{})}
	for _, as := range cfg.AppServices {
		if as.Pusher == nil {
			continue
		}
		w, err := newWorker(ctx, s, as)
		if err != nil {
			return nil, err
		}
		s.workers = append(s.workers, w)
	}
	return s, nil
}

// Start runs the workers until Close.
func (s *Sender) Start() {
	if len(s.workers) == 0 {
		return
	}
	s.cfg.Rooms.Stream().OnAdvance(func(int64) { s.poke() })
	if s.cfg.Typing != nil {
		s.cfg.Typing.OnChange(s.poke)
	}
	if s.cfg.Presence != nil {
		s.cfg.Presence.OnChange(s.poke)
	}
	if s.cfg.Receipts != nil {
		s.cfg.Receipts.OnAdvance(func(int64) { s.poke() })
	}
	if s.cfg.ToDevice != nil {
		s.cfg.ToDevice.OnAdvance(func(int64) { s.poke() })
	}
	if s.cfg.DeviceLists != nil {
		s.cfg.DeviceLists.OnAdvance(func(int64) { s.poke() })
	}
	for _, w := range s.workers {
		s.wg.Add(1)
		go w.run()
	}
}

func (s *Sender) poke() {
	for _, w := range s.workers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Close stops the workers; what is left is sent after the next start.
func (s *Sender) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for _, w := range s.workers {
			w.saveRoomPos(context.Background())
		}
	})
}

// Pending is how many built transactions wait for an appservice.
func (s *Sender) Pending(ctx context.Context, asID string) (int, error) {
	return s.cfg.Store.PendingCount(ctx, asID)
}

// idleRecheck bounds how long a worker sleeps without a wake-up.
const idleRecheck = 30 * time.Second

// shutdownGrace is how long Close lets a transaction in flight finish, so
// that an appservice's answer is not lost to a shutdown and the
// transaction needlessly sent again.
const shutdownGrace = 5 * time.Second

func (w *worker) run() {
	defer w.s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-w.s.stop:
			t := time.NewTimer(shutdownGrace)
			defer t.Stop()
			select {
			case <-t.C:
				cancel()
			case <-done:
			}
		case <-done:
		}
	}()
	backoff := w.s.cfg.MinBackoff
	for !w.s.stopped() {
		busy, err := w.step(ctx)
		if err != nil {
			if w.s.stopped() {
				return
			}
			w.log.Warn("appservice transaction failed; retrying", "err", err, "retry_in", backoff)
			if !w.s.sleep(backoff) {
				return
			}
			backoff = min(backoff*2, w.s.cfg.MaxBackoff)
			continue
		}
		backoff = w.s.cfg.MinBackoff
		if busy {
			continue
		}
		t := time.NewTimer(idleRecheck)
		select {
		case <-w.s.stop:
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Sender) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// sleep waits d, or less when the sender stops; it reports whether the
// sender is still running.
func (s *Sender) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// step sends the oldest stored transaction, or builds and stores the next
// one; it reports whether there may be more to do at once.
func (w *worker) step(ctx context.Context) (bool, error) {
	txn, err := w.s.cfg.Store.Pending(ctx, w.as.ID)
	switch {
	case err == nil:
		if err := w.as.Pusher.PushTransaction(ctx, strconv.FormatInt(txn.ID, 10), txn.Body); err != nil {
			return false, err
		}
		w.clearDelivered(ctx, txn.Body)
		// A failed delete re-sends the transaction after the retry; the
		// appservice recognises it by its ID.
		return true, w.s.cfg.Store.Ack(ctx, w.as.ID, txn.ID)
	case !errors.Is(err, appservicestore.ErrNotFound):
		return false, err
	}
	b, err := w.build(ctx)
	if err != nil {
		return false, err
	}
	if b.empty() {
		w.commitPositions(b.next)
		if b.more {
			return true, w.maybeSaveRoomPos(ctx)
		}
		return false, w.maybeSaveRoomPos(ctx)
	}
	body, err := b.body()
	if err != nil {
		return false, err
	}
	if _, err := w.s.cfg.Store.Queue(ctx, w.as.ID, body, len(b.events), w.storedPositions(b.next)); err != nil {
		return false, err
	}
	w.commitPositions(b.next)
	w.savedRoom = b.next[streamRoom]
	return true, nil
}
