package push

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// Local events are evaluated in their room's actor before they are
// written, and their notifications and pushes are written in the events'
// own transaction (rooms.PreCommitter), as Synapse computes push actions
// before persisting an event and writes them with it: one fsync instead
// of the notifier's second one, a crash can lose neither the event nor its
// notifications without the other, and a sync woken by the event reads
// its counts at once.
//
// The notifier's own pass behind the commits still evaluates what does
// not come this way (events received over federation, joins through
// another server, invites from other servers), and whatever a batch could
// not prepare. It skips the positions evaluated at commit; after a
// restart it may evaluate a few of them again (from its stored cursor),
// which stores nothing twice: a notification already stored is kept, and
// its pushes are not queued again (pushstore.WriteTx).

// PrepareCommit evaluates a batch of a room's local events
// (rooms.PreCommitter). The members are the room's joined members after
// the batch, as the pass behind the commits reads them right after it.
func (n *Notifier) PrepareCommit(ctx context.Context, b rooms.PreCommitBatch) ([]roomstore.TxWork, error) {
	work := make([]roomstore.TxWork, len(b.Events))
	for i, pe := range b.Events {
		if parent := relatesTo(pe.Event); parent != "" && b.Earlier(i, parent) {
			// Its thread is found through an event this batch writes,
			// not readable yet: the batch is left to the pass behind.
			return nil, errRelatesInBatch
		}
		state := func() (eventauth.StateLookup, error) { return pe.StateBefore, nil }
		notes, err := n.evaluate(ctx, pe.Event, pe.StreamPos, b.Joined, state, n.cfg.ThreadOf)
		if err != nil {
			return nil, err
		}
		if len(notes) == 0 {
			continue
		}
		jobs, _, err := n.jobsFor(ctx, notes)
		if err != nil {
			return nil, err
		}
		work[i] = func(ctx context.Context, tx *sql.Tx) error {
			if err := pushstore.WriteTx(ctx, tx, notes, jobs); err != nil {
				return err
			}
			if len(jobs) > 0 {
				n.atCommit.queued.Store(true)
			}
			return nil
		}
	}
	return work, nil
}

// Committed records positions evaluated at their commit
// (rooms.PreCommitter), and wakes the delivery of the pushes they queued.
func (n *Notifier) Committed(positions []int64) {
	n.atCommit.add(positions)
	if n.atCommit.queued.Swap(false) && n.cfg.Queued != nil {
		n.cfg.Queued()
	}
}

// errRelatesInBatch: an event relates to an earlier event of its own
// batch.
var errRelatesInBatch = errors.New("push: an event relates to another of its batch")

// relatesTo is the event ID in an event's m.relates_to, or "".
func relatesTo(ev *event.Event) string {
	var c struct {
		RelatesTo *struct {
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil || c.RelatesTo == nil {
		return ""
	}
	return c.RelatesTo.EventID
}

// maxAtCommit bounds the positions remembered; past it the oldest are
// forgotten, and the pass behind evaluates those events again, which
// stores nothing twice.
const maxAtCommit = 100000

// evaluatedAtCommit is the set of positions evaluated at their commit
// that the pass behind has not passed yet.
type evaluatedAtCommit struct {
	mu  sync.Mutex
	set map[int64]bool
	// queued is set by a commit's work that queued pushes.
	queued atomic.Bool
}

func (e *evaluatedAtCommit) add(positions []int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set == nil {
		e.set = map[int64]bool{}
	}
	if len(e.set)+len(positions) > maxAtCommit {
		e.set = map[int64]bool{}
	}
	for _, p := range positions {
		e.set[p] = true
	}
}

// skipAhead moves the cursor over the positions right after it that were
// evaluated at their commit, up to stable (the room stream's readable
// position: the cursor never passes it). Positions are handed out one by
// one (streams.Tracker), so a run of them all evaluated at commit holds
// nothing for the pass behind; a position it does not know (account
// data, an event from another server) stops it, and the pass reads from
// there.
func (n *Notifier) skipAhead(stable int64) {
	from := n.cursor.Load()
	to := n.atCommit.runFrom(from, stable)
	if to > from {
		n.advance(to)
	}
}

// maxSkip bounds one skipAhead's walk.
const maxSkip = 10000

// runFrom returns the last position p ≤ stable such that every position
// in (from, p] was evaluated at commit (from itself when there is none).
func (e *evaluatedAtCommit) runFrom(from, stable int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := from
	for p < stable && p-from < maxSkip && e.set[p+1] {
		p++
	}
	return p
}

// forget drops the positions up to pos, which the cursor has passed.
func (e *evaluatedAtCommit) forget(pos int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.set {
		if p <= pos {
			delete(e.set, p)
		}
	}
}

// leaveOut drops from evs the events evaluated at their commit. The
// positions stay known until the cursor passes them (forget): a sync's
// skipAhead may run over them meanwhile.
func (e *evaluatedAtCommit) leaveOut(evs []*roomstore.StoredEvent) []*roomstore.StoredEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.set) == 0 {
		return evs
	}
	kept := evs[:0]
	for _, se := range evs {
		if !e.set[se.StreamPos] {
			kept = append(kept, se)
		}
	}
	return kept
}
