package sender

import (
	"errors"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

// work is a destination's worker: the only goroutine that sends to it, so
// at most one transaction is in flight per destination while destinations
// proceed independently. It runs while the queue has work and exits when
// it is empty (or on Stop); kickLocked starts it again.
func (s *Sender) work(q *destQueue) {
	defer s.wg.Done()
	defer s.m.workers.Add(-1)
	for {
		if s.stopping() {
			s.park(q)
			return
		}
		if wait := s.waitFor(q); wait > 0 {
			if !s.sleep(q, wait) {
				s.park(q)
				return
			}
			continue
		}
		if q.pinned == nil {
			t, err := s.nextTransaction(q)
			if err != nil {
				if s.stopping() {
					s.park(q)
					return
				}
				s.log.Error("reading the federation queue failed", "destination", q.name, "err", err)
				s.backOff(q, false)
				continue
			}
			if t == nil {
				if s.idle(q) {
					return
				}
				continue
			}
			q.pinned = t
		}
		s.attempt(q)
	}
}

// stopping reports whether Stop was called or Start's context ended.
func (s *Sender) stopping() bool {
	select {
	case <-s.stopCh:
		return true
	case <-s.ctx.Done():
		return true
	default:
		return false
	}
}

// park releases q on shutdown; its work stays persisted.
func (s *Sender) park(q *destQueue) {
	s.mu.Lock()
	q.running = false
	s.mu.Unlock()
}

// idle ends the worker if nothing was queued since it last looked, and
// forgets a healthy destination with nothing in memory, so the map does
// not grow with every server ever contacted.
func (s *Sender) idle(q *destQueue) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.dirty {
		return false
	}
	q.running = false
	if len(q.ephemeral) == 0 && q.backoff == 0 && q.retryAt.IsZero() && q.failingSince.IsZero() {
		delete(s.dests, q.name)
	}
	return true
}

// waitFor is how long q must still wait before its next attempt.
func (s *Sender) waitFor(q *destQueue) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.retryAt.IsZero() {
		return 0
	}
	return q.retryAt.Sub(s.cfg.Now())
}

// sleep waits out a backoff, or until MarkAlive; false means shut down.
func (s *Sender) sleep(q *destQueue, d time.Duration) bool {
	select {
	case <-s.cfg.After(d):
	case <-q.alive:
	case <-s.stopCh:
		return false
	case <-s.ctx.Done():
		return false
	}
	// The timer (or MarkAlive) decides, not a re-read of the clock: an
	// injected clock need not move for a fake timer to fire.
	s.mu.Lock()
	q.retryAt = time.Time{}
	s.mu.Unlock()
	return true
}

// nextTransaction builds q's next transaction from the front of its queue,
// or returns nil when there is nothing to send.
func (s *Sender) nextTransaction(q *destQueue) (*transaction, error) {
	// Clear dirty before reading: anything queued after this point sets it
	// again, so idle cannot miss it.
	s.mu.Lock()
	q.dirty = false
	s.mu.Unlock()

	pdus, err := s.cfg.Store.PeekPDUs(s.ctx, q.name, MaxPDUsPerTransaction)
	if err != nil {
		return nil, err
	}
	durable, err := s.cfg.Store.PeekEDUs(s.ctx, q.name, MaxEDUsPerTransaction)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	n := min(MaxEDUsPerTransaction-len(durable), len(q.ephemeral))
	ephemeral := append([]EDU(nil), q.ephemeral[:n]...)
	q.ephemeral = append(q.ephemeral[:0], q.ephemeral[n:]...)
	s.mu.Unlock()
	if len(pdus)+len(durable)+len(ephemeral) == 0 {
		return nil, nil
	}
	return buildTransaction(s.nextTxnID(), s.cfg.ServerName, s.nowMS(), pdus, durable, ephemeral), nil
}

// attempt sends q's pinned transaction once and handles the outcome.
func (s *Sender) attempt(q *destQueue) {
	t := q.pinned
	select { // a MarkAlive before this attempt is served by it
	case <-q.alive:
	default:
	}
	resp, err := s.cfg.Transport.SendTransaction(s.ctx, q.name, t.id, t.body)
	switch {
	case err == nil:
		s.delivered(q, t, resp)
	case s.ctx.Err() != nil:
		// Shutting down: the transaction stays queued for the next run.
	case errors.Is(err, ErrRejected):
		s.rejected(q, t, err)
	default:
		s.m.txnFailures.Add(1)
		s.failed(q, t, err)
	}
}

// delivered handles a 200: the transaction's items leave the queue.
func (s *Sender) delivered(q *destQueue, t *transaction, resp *TransactionResponse) {
	q.pinned = nil
	s.m.txnsSent.Add(1)
	s.m.pdusSent.Add(int64(t.nPDUs))
	s.m.edusSent.Add(int64(t.nEDUs))
	if resp != nil {
		// Per-PDU errors mean the PDU was received and refused; sending it
		// again would be refused again (transactions.yaml: the response is
		// used "even in the event of one or more PDUs failing").
		for eventID, r := range resp.PDUs {
			if r.Error != "" {
				s.m.pduErrors.Add(1)
				s.log.Info("destination refused a PDU", "destination", q.name, "event_id", eventID, "error", r.Error)
			}
		}
	}
	removed, err := s.cfg.Store.Acknowledge(s.ctx, fedqueue.Delivery{
		Destination: q.name, PDUIDs: t.pduIDs, EDUIDs: t.eduIDs, StreamPos: t.streamPos, NowMS: s.nowMS(),
	})
	s.m.pdusQueued.Add(-int64(removed))
	if err != nil {
		// The items stay queued and go again in a new transaction, which
		// the receiver handles idempotently (it knows the event IDs). Back
		// off so a broken database does not make us resend in a loop.
		s.log.Error("recording a delivered federation transaction failed", "destination", q.name, "txn_id", t.id, "err", err)
		s.backOff(q, false)
		return
	}
	s.mu.Lock()
	q.backoff, q.retryAt, q.failingSince = 0, time.Time{}, time.Time{}
	s.m.setBackingOff(q, false)
	s.mu.Unlock()
}

// rejected handles a transaction the destination refused for good.
func (s *Sender) rejected(q *destQueue, t *transaction, cause error) {
	q.pinned = nil
	s.m.txnsRejected.Add(1)
	s.log.Error("destination rejected a federation transaction; dropping its PDUs and EDUs for it",
		"destination", q.name, "txn_id", t.id, "pdus", t.nPDUs, "edus", t.nEDUs, "err", cause)
	removed, err := s.cfg.Store.Discard(s.ctx, fedqueue.Delivery{Destination: q.name, PDUIDs: t.pduIDs, EDUIDs: t.eduIDs})
	s.m.pdusQueued.Add(-int64(removed))
	if err != nil {
		s.log.Error("dropping a rejected federation transaction failed", "destination", q.name, "txn_id", t.id, "err", err)
		s.backOff(q, false)
	}
}

// failed handles a transaction that may pass later: back off, keep it
// pinned so the retry reuses its ID and body, and collapse the backlog if
// the outage has gone on long enough.
func (s *Sender) failed(q *destQueue, t *transaction, cause error) {
	backoff, delay := s.backOff(q, true)
	s.log.Warn("federation transaction failed; will retry",
		"destination", q.name, "txn_id", t.id, "err", cause, "backoff", backoff, "retry_in", delay)
	s.mu.Lock()
	r := fedqueue.Retry{
		IntervalMS:     backoff.Milliseconds(),
		AtMS:           q.retryAt.UnixMilli(),
		FailingSinceMS: q.failingSince.UnixMilli(),
	}
	s.mu.Unlock()
	if err := s.cfg.Store.SetRetry(s.ctx, q.name, r); err != nil {
		s.log.Error("recording a federation retry failed", "destination", q.name, "err", err)
	}
	s.maybeCatchUp(q)
}

// backOff grows q's backoff and schedules the next attempt. failure says
// the destination failed (rather than our database), which starts its
// failing period.
func (s *Sender) backOff(q *destQueue, failure bool) (backoff, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if failure && q.failingSince.IsZero() {
		q.failingSince = now
	}
	q.backoff = nextBackoff(q.backoff, s.cfg.MinBackoff, s.cfg.MaxBackoff)
	delay = jitter(q.backoff, s.cfg.Rand(), s.cfg.MaxBackoff)
	q.retryAt = now.Add(delay)
	s.m.setBackingOff(q, true)
	return q.backoff, delay
}

// maybeCatchUp collapses a failing destination's backlog to the latest PDU
// per room once it is longer than CatchUpBacklog or its oldest PDU is older
// than CatchUpAge. The pinned transaction is unaffected (it is retried as
// it is); the collapsed queue follows it.
func (s *Sender) maybeCatchUp(q *destQueue) {
	over := false
	if s.cfg.CatchUpBacklog > 0 {
		n, err := s.cfg.Store.CountPDUs(s.ctx, q.name, s.cfg.CatchUpBacklog+1)
		if err != nil {
			s.log.Error("counting a federation backlog failed", "destination", q.name, "err", err)
			return
		}
		over = n > s.cfg.CatchUpBacklog
	}
	if !over && s.cfg.CatchUpAge > 0 {
		oldest, err := s.cfg.Store.PeekPDUs(s.ctx, q.name, 1)
		if err != nil {
			s.log.Error("reading a federation backlog failed", "destination", q.name, "err", err)
			return
		}
		over = len(oldest) == 1 && s.nowMS()-oldest[0].QueuedTS >= s.cfg.CatchUpAge.Milliseconds()
	}
	if !over {
		return
	}
	dropped, err := s.cfg.Store.CollapseToLatestPerRoom(s.ctx, q.name)
	if err != nil {
		s.log.Error("collapsing a federation backlog failed", "destination", q.name, "err", err)
		return
	}
	// Typing notifications and the like from before the outage are stale.
	s.mu.Lock()
	staleEDUs := len(q.ephemeral)
	q.ephemeral = nil
	s.mu.Unlock()
	s.m.catchUps.Add(1)
	s.m.pdusQueued.Add(-int64(dropped))
	s.m.pdusDropped.Add(int64(dropped))
	s.m.edusDropped.Add(int64(staleEDUs))
	s.log.Info("destination has been failing; keeping only the latest PDU per room for it",
		"destination", q.name, "dropped_pdus", dropped, "dropped_edus", staleEDUs)
}
