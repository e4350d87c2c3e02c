package rooms

import (
	"context"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// A PreCommitter derives rows from a room's local events before they are
// written, and has them written in the events' own transaction: the push
// notifier's notifications, so that a message and the counts it makes
// commit together (one fsync, and a sync woken by the message sees its
// counts), as Synapse computes push actions before persisting an event
// and writes them in the event's transaction.
//
// It runs in the room's actor before the database transaction starts, so
// its reads do not hold the writer. Events received over federation and
// backfilled history do not pass here.
type PreCommitter interface {
	// PrepareCommit returns, for each event of the batch (in order),
	// the work to run in the transaction that stores it, or nil (a slice
	// as long as the batch, even when all are nil). An error
	// leaves the whole batch to be handled another way (the push
	// notifier's own pass behind the commits); the events are stored all
	// the same.
	PrepareCommit(ctx context.Context, b PreCommitBatch) ([]roomstore.TxWork, error)
	// Committed is told, before readers may see the events, the stream
	// positions of a batch it prepared, once the batch committed.
	Committed(positions []int64)
}

// PreCommitBatch is one batch of a room's local events about to be
// written.
type PreCommitBatch struct {
	RoomID  string
	Version *roomversion.Version
	// Joined is the room's joined members after the batch.
	Joined map[string]bool
	Events []PreCommitEvent
}

// PreCommitEvent is one event of a PreCommitBatch.
type PreCommitEvent struct {
	Event     *event.Event
	StreamPos int64
	// StateBefore is the room's state before the event.
	StateBefore eventauth.StateLookup
}

// Earlier reports whether eventID is one of the batch's events before
// the i-th: such an event is not readable from the store until the
// commit.
func (b PreCommitBatch) Earlier(i int, eventID string) bool {
	for _, e := range b.Events[:i] {
		if e.Event.EventID() == eventID {
			return true
		}
	}
	return false
}

// SetPreCommitter sets the engine's PreCommitter (at most one). Set while
// the server is wired, before the first event is written.
func (e *Engine) SetPreCommitter(p PreCommitter) { e.preCommit = p }

// overlayState is the state before an event of a batch: the batch's
// earlier state events over the state before the batch.
type overlayState struct {
	base    eventauth.StateMap
	overlay map[event.StateTuple]*event.Event
}

func (s overlayState) Get(typ, stateKey string) *event.Event {
	t := event.StateTuple{Type: typ, StateKey: stateKey}
	if ev, ok := s.overlay[t]; ok {
		return ev
	}
	return s.base.Get(typ, stateKey)
}

// prepareCommit asks the PreCommitter for the batch's work, one entry per
// event; nil when there is no PreCommitter or it failed (logged: the
// events are stored without it).
func (a *actor) prepareCommit(ctx context.Context, accepted []pending, positions []int64, before savedState) []roomstore.TxWork {
	p := a.e.preCommit
	if p == nil {
		return nil
	}
	b := PreCommitBatch{RoomID: a.roomID, Version: a.st.version, Joined: a.st.joined, Events: make([]PreCommitEvent, len(accepted))}
	var overlay map[event.StateTuple]*event.Event
	for i, pe := range accepted {
		b.Events[i] = PreCommitEvent{Event: pe.ev, StreamPos: positions[i], StateBefore: overlayState{before.state, overlay}}
		if t, ok := pe.ev.Tuple(); ok {
			// Copied on write (it holds only this batch's state events),
			// so each event keeps its own state before.
			next := make(map[event.StateTuple]*event.Event, len(overlay)+1)
			for k, v := range overlay {
				next[k] = v
			}
			next[t] = pe.ev
			overlay = next
		}
	}
	work, err := p.PrepareCommit(ctx, b)
	if err == nil && len(work) != len(accepted) {
		err = fmt.Errorf("rooms: %d pieces of work for %d events", len(work), len(accepted))
	}
	if err != nil {
		a.e.log.Warn("preparing the rows a commit derives failed; they are left to their own pass", "room_id", a.roomID, "err", err)
		return nil
	}
	return work
}
