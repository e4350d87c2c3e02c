package receipts

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
)

// Receipts from other servers for events this server does not hold yet.
//
// An m.receipt EDU can outrun the PDU it names (EDUs and PDUs travel in
// different transactions, and a PDU may wait for its missing prev events).
// The spec does not say to drop such a receipt, and Synapse stores it
// as it comes, skipping the ordering check it cannot make
// (receipts store, insert_linearized_receipt_txn). Receipts here are
// ordered by their event's stream position, so such a receipt is kept
// apart (receiptstore.Pending, the latest per room, user and thread) and
// takes effect, with the usual only-forward rule, when its event is
// stored; one whose event has not come within a day is forgotten.
const (
	// maxPendingPerUser bounds what one remote user can park in a room
	// (one per thread).
	maxPendingPerUser = 10
	pendingTTL        = 24 * time.Hour
	pendingBatch      = 500
	// resolveEvery bounds how often stored events are looked for: a pass
	// reads up to pendingBatch events, and the room stream advances on
	// every message.
	resolveEvery = time.Second
)

// keepPending keeps a remote user's receipt for an event not held yet; it
// reports false when the user already has too many waiting in the room.
func (s *Service) keepPending(ctx context.Context, roomID, userID, thread, eventID string, ts int64) (bool, error) {
	n, err := s.cfg.Store.CountPending(ctx, roomID, userID)
	if err != nil || n >= maxPendingPerUser {
		return false, err
	}
	now := s.cfg.Now().UnixMilli()
	if ts <= 0 {
		ts = now
	}
	if err := s.cfg.Store.PutPending(ctx, receiptstore.Pending{RoomID: roomID, UserID: userID, ThreadID: thread,
		EventID: eventID, TS: ts, ReceivedTS: now}); err != nil {
		return false, err
	}
	s.pending.Store(true)
	s.pokeResolver()
	return true, nil
}

// resolver applies pending receipts whose events have arrived.
type resolver struct {
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start looks for the events of pending receipts whenever the room stream
// advances, until Close.
func (s *Service) Start(ctx context.Context) error {
	ps, err := s.cfg.Store.PendingReceipts(ctx, 1)
	if err != nil {
		return err
	}
	s.pending.Store(len(ps) > 0)
	s.res = &resolver{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.cfg.Rooms.Stream().OnAdvance(func(int64) {
		if s.pending.Load() {
			s.pokeResolver()
		}
	})
	go s.resolveLoop()
	s.pokeResolver()
	return nil
}

// Close stops the resolver (pending receipts stay stored).
func (s *Service) Close() {
	if s.res == nil {
		return
	}
	s.res.once.Do(func() {
		close(s.res.stop)
		<-s.res.done
	})
}

func (s *Service) pokeResolver() {
	if s.res == nil {
		return
	}
	select {
	case s.res.wake <- struct{}{}:
	default:
	}
}

func (s *Service) resolveLoop() {
	defer close(s.res.done)
	for {
		select {
		case <-s.res.stop:
			return
		case <-s.res.wake:
		}
		if err := s.ResolvePending(context.Background()); err != nil {
			s.cfg.Log.Warn("receipts: applying receipts for events that arrived", "err", err)
		}
		select {
		case <-s.res.stop:
			return
		case <-time.After(resolveEvery):
		}
	}
}

// ResolvePending applies the pending receipts whose events are now held
// and forgets those older than a day.
func (s *Service) ResolvePending(ctx context.Context) error {
	if err := s.cfg.Store.DeletePendingBefore(ctx, s.cfg.Now().Add(-pendingTTL).UnixMilli()); err != nil {
		return err
	}
	ps, err := s.cfg.Store.PendingReceipts(ctx, pendingBatch)
	if err != nil {
		return err
	}
	for _, p := range ps {
		se, err := s.roomEvent(ctx, p.RoomID, p.EventID)
		if errors.Is(err, merr.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.put(ctx, receiptstore.Receipt{RoomID: p.RoomID, Type: Read, UserID: p.UserID, ThreadID: p.ThreadID,
			EventID: p.EventID, EventPos: se.StreamPos, TS: p.TS}); err != nil {
			return err
		}
		if err := s.cfg.Store.DeletePending(ctx, p); err != nil {
			return err
		}
	}
	if len(ps) < pendingBatch {
		left, err := s.cfg.Store.PendingReceipts(ctx, 1)
		if err != nil {
			return err
		}
		s.pending.Store(len(left) > 0)
	}
	return nil
}
