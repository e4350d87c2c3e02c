// Package streams allocates stream positions and tracks which of them are
// safe to read. Everything a client syncs is a stream with monotonically
// increasing positions; a reader may only advance past a position once every
// lower position has been committed (or abandoned), or it would skip an event
// whose transaction was still in flight.
package streams

import (
	"container/heap"
	"sync"
)

// Tracker hands out positions of one stream within one process.
type Tracker struct {
	mu       sync.Mutex
	last     int64   // highest position handed out
	current  int64   // all positions <= current are finished
	inflight posHeap // reserved, not finished
	finished map[int64]bool
	onAdv    []func(int64)
}

// NewTracker starts after position `last` (the highest one persisted).
func NewTracker(last int64) *Tracker {
	return &Tracker{last: last, current: last, finished: map[int64]bool{}}
}

// OnAdvance registers fn to be called (outside the lock) whenever Current
// grows. Several followers of one stream (push, appservices) each register
// their own.
func (t *Tracker) OnAdvance(fn func(current int64)) {
	t.mu.Lock()
	t.onAdv = append(t.onAdv, fn)
	t.mu.Unlock()
}

// Reserve hands out the next position. Every reserved position must be
// passed to Finish exactly once, whether its write committed or failed.
func (t *Tracker) Reserve() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last++
	heap.Push(&t.inflight, t.last)
	return t.last
}

// Finish marks pos as no longer in flight.
func (t *Tracker) Finish(pos int64) {
	t.mu.Lock()
	t.finished[pos] = true
	advanced := false
	for t.inflight.Len() > 0 && t.finished[t.inflight[0]] {
		p := heap.Pop(&t.inflight).(int64)
		delete(t.finished, p)
		advanced = true
	}
	newCur := t.last
	if t.inflight.Len() > 0 {
		newCur = t.inflight[0] - 1
	}
	if newCur > t.current {
		t.current = newCur
	} else {
		advanced = false
	}
	fns, cur := t.onAdv, t.current
	t.mu.Unlock()
	if advanced {
		for _, fn := range fns {
			fn(cur)
		}
	}
}

// Current is the highest position such that every position at or below it
// is finished: what readers may see.
func (t *Tracker) Current() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}

type posHeap []int64

func (h posHeap) Len() int           { return len(h) }
func (h posHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h posHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *posHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *posHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
