package e2ee

import (
	"sync"

	"github.com/myelin-chat/myelin/internal/streams"
)

// trackedWakes wakes users' syncs once a stream has reached a position:
// a change is readable only when every lower position has finished, so
// waking at commit could let a sync read past a change still in flight.
type trackedWakes struct {
	tracker  *streams.Tracker
	notifier Waker

	mu      sync.Mutex
	pending []pendingWake
}

type pendingWake struct {
	pos   int64
	users []string
}

func newTrackedWakes(t *streams.Tracker, n Waker) *trackedWakes {
	w := &trackedWakes{tracker: t, notifier: n}
	t.OnAdvance(w.upTo)
	return w
}

// upTo wakes the users whose changes are now readable.
func (w *trackedWakes) upTo(current int64) {
	w.mu.Lock()
	var users []string
	kept := w.pending[:0]
	for _, p := range w.pending {
		if p.pos <= current {
			users = append(users, p.users...)
		} else {
			kept = append(kept, p)
		}
	}
	w.pending = kept
	w.mu.Unlock()
	if len(users) > 0 && w.notifier != nil {
		w.notifier.Wake(users...)
	}
}

// add wakes users once the stream reaches pos. Call it while pos is still
// reserved: Finish then advances the stream and wakes through OnAdvance.
// A stream already at pos (never, while it is reserved) is caught here.
func (w *trackedWakes) add(pos int64, users []string) {
	if len(users) == 0 {
		return
	}
	w.mu.Lock()
	w.pending = append(w.pending, pendingWake{pos: pos, users: users})
	w.mu.Unlock()
	if cur := w.tracker.Current(); cur >= pos {
		w.upTo(cur)
	}
}
