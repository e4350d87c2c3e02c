package rooms

import (
	"context"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// This file is backfill on the asking side (server-server-api "Backfilling
// and retrieving missing events"): when a client pages back past the
// earliest event we hold, we ask a server in the room for what came before,
// check it like any received PDU, and give it a place in the timeline
// below everything we have. Backfilled events are history: they never
// change the current state or the forward extremities, never wake /sync
// and are never sent on.

// BackfillFetcher is a RemoteFetcher that can also page a room's history
// backwards (GET /backfill).
type BackfillFetcher interface {
	RemoteFetcher
	// Backfill returns up to limit events reached by walking prev_events
	// back from the given events, the events themselves included.
	Backfill(ctx context.Context, roomID string, from []string, limit int) ([]*event.Event, error)
}

// MaxBackfill bounds one backfill request; a server answers at most this
// many events (and the serving side caps its answers the same way).
const MaxBackfill = 100

// oldestScan is how many of the earliest timeline events are looked at for
// prev events we lack.
const oldestScan = 20

// minBackfill is the least asked for at once: round trips cost more than
// events.
const minBackfill = 20

// dropShallowest removes the events of the lowest depth from a full
// backfill answer. The answer was cut off somewhere in that depth, so
// events concurrent with them may be missing; the next backfill starts
// from their children and brings the whole level, which then sorts in
// send order instead of split across two pages.
func dropShallowest(evs []*event.Event) []*event.Event {
	if len(evs) == 0 {
		return evs
	}
	min := evs[0].Depth()
	for _, ev := range evs {
		if ev.Depth() < min {
			min = ev.Depth()
		}
	}
	out := evs[:0:0]
	for _, ev := range evs {
		if ev.Depth() != min {
			out = append(out, ev)
		}
	}
	if len(out) == 0 {
		return evs // one level larger than a page: take it as it is
	}
	return out
}

// backfillBatch is the actor's work for one backfill answer.
type backfillBatch struct {
	*remoteBatch
	// stateBefore holds the state before events whose prev events we do
	// not hold, learned from /state_ids.
	stateBefore map[string]roomstore.StateMap
	added       int
}

// BackwardExtremities returns the prev events of the room's earliest
// timeline events that we do not hold in the timeline: where the history
// we have begins. It is empty once the room's create event is in the
// timeline.
func (e *Engine) BackwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	oldest, err := e.store.OldestEvents(ctx, roomID, oldestScan)
	if err != nil || len(oldest) == 0 {
		return nil, err
	}
	if oldest[0].Type() == event.TypeCreate {
		return nil, nil
	}
	held := map[string]bool{}
	for _, se := range oldest {
		held[se.EventID()] = true
	}
	var want []string
	seen := map[string]bool{}
	for _, se := range oldest {
		for _, p := range se.PrevEventIDs() {
			if !held[p] && !seen[p] {
				seen[p] = true
				want = append(want, p)
			}
		}
	}
	stored, err := e.store.Events(ctx, want)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range want {
		if se, ok := stored[id]; !ok || se.Outlier {
			out = append(out, id)
		}
	}
	return out, nil
}

// BackfillFrom asks f for up to limit events of history before the
// earliest events we hold and adds those that pass the checks to the
// timeline. It returns how many events joined the timeline (0 when there
// was nothing to fetch). Concurrent calls for one room share one fetch.
func (e *Engine) BackfillFrom(ctx context.Context, roomID string, f BackfillFetcher, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	if limit > MaxBackfill {
		limit = MaxBackfill
	}
	release, first := e.backfillSlot(roomID)
	defer release()
	if !first {
		return 0, nil // another request just backfilled this room
	}
	exts, err := e.BackwardExtremities(ctx, roomID)
	if err != nil || len(exts) == 0 {
		return 0, err
	}
	if limit < minBackfill {
		limit = minBackfill
	}
	return e.backfillFrom(ctx, roomID, f, exts, limit)
}

// BackfillEvent fetches a room event we do not hold, with up to
// minBackfill events of history before it, from f's server, and adds what
// passes the checks to the timeline as backfilled history (below
// everything held). It reports whether the event itself is now in the
// timeline. timestamp_to_event uses it to make a remote server's answer
// one the client can then ask /context about (server-server-api
// "GET /timestamp_to_event": "it should try to backfill this event").
func (e *Engine) BackfillEvent(ctx context.Context, roomID, eventID string, f BackfillFetcher) (bool, error) {
	if se, err := e.store.Event(ctx, eventID); err == nil && !se.Outlier {
		return se.RoomID() == roomID && !se.Rejected && !se.SoftFailed, nil
	}
	if _, err := e.backfillFrom(ctx, roomID, f, []string{eventID}, minBackfill); err != nil {
		return false, err
	}
	se, err := e.store.Event(ctx, eventID)
	if err != nil {
		return false, nil
	}
	return se.RoomID() == roomID && !se.Outlier && !se.Rejected && !se.SoftFailed, nil
}

// backfillFrom asks f for up to limit events walking back from the given
// events and adds those that pass the checks to the timeline.
func (e *Engine) backfillFrom(ctx context.Context, roomID string, f BackfillFetcher, from []string, limit int) (int, error) {
	got, err := f.Backfill(ctx, roomID, from, limit)
	if err != nil {
		return 0, err
	}
	if len(got) >= limit {
		got = dropShallowest(got)
	}
	batch := &remoteBatch{stateAt: map[string]roomstore.StateMap{}, results: map[string]*IngestResult{}}
	src := newEventSource(ctx, e.store)
	var todo []*event.Event
	for _, ev := range got {
		if ev.RoomID() != roomID {
			continue
		}
		if _, dup := src.batch[ev.EventID()]; dup {
			continue
		}
		if se, err := src.stored(ev.EventID()); err != nil || (se != nil && !se.Outlier) {
			continue
		}
		todo = append(todo, ev)
		src.add(ev, false)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	// Depth orders the DAG; concurrent events (equal depth) go in the
	// order they were sent, as their senders' servers showed them.
	sort.SliceStable(todo, func(i, j int) bool {
		if todo[i].Depth() != todo[j].Depth() {
			return todo[i].Depth() < todo[j].Depth()
		}
		return todo[i].OriginServerTS() < todo[j].OriginServerTS()
	})
	bf := &backfillBatch{remoteBatch: batch, stateBefore: map[string]roomstore.StateMap{}}
	for _, ev := range todo {
		if ev.Type() == event.TypeCreate || e.hasPrevWithState(ev, src) {
			continue
		}
		// The oldest events of the answer: ask for the state before them.
		if state, err := e.remoteStateBefore(ctx, roomID, ev.EventID(), src, f, batch); err == nil {
			bf.stateBefore[ev.EventID()] = state
		} // else it has no state to be checked against and is dropped
	}
	e.fetchMissingAuth(ctx, roomID, append(append([]*event.Event{}, todo...), batch.outliers...), src, f, batch)
	batch.events = todo
	if _, err := e.submit(ctx, roomID, &request{backfill: bf}); err != nil {
		return 0, err
	}
	return bf.added, nil
}

// hasPrevWithState reports whether one of ev's prev events is in the batch
// or held in the timeline, so the state before ev can be computed.
func (e *Engine) hasPrevWithState(ev *event.Event, src *eventSource) bool {
	for _, p := range ev.PrevEventIDs() {
		if _, ok := src.batch[p]; ok {
			return true
		}
		if se, err := src.stored(p); err == nil && se != nil && !se.Outlier {
			return true
		}
	}
	return false
}

// backfillSlot lets one backfill per room run at a time; first is false
// for a caller that waited for another's.
func (e *Engine) backfillSlot(roomID string) (release func(), first bool) {
	e.bfMu.Lock()
	if ch, busy := e.bfBusy[roomID]; busy {
		e.bfMu.Unlock()
		<-ch
		return func() {}, false
	}
	ch := make(chan struct{})
	if e.bfBusy == nil {
		e.bfBusy = map[string]chan struct{}{}
	}
	e.bfBusy[roomID] = ch
	e.bfMu.Unlock()
	return func() {
		e.bfMu.Lock()
		delete(e.bfBusy, roomID)
		e.bfMu.Unlock()
		close(ch)
	}, true
}

// backfillPositions reserves n stream positions below every one in use,
// returned in ascending order.
func (e *Engine) backfillPositions(ctx context.Context, n int) ([]int64, error) {
	e.bfMu.Lock()
	defer e.bfMu.Unlock()
	if !e.bfMinLoaded {
		min, err := e.store.MinStreamPos(ctx)
		if err != nil {
			return nil, err
		}
		e.bfMin, e.bfMinLoaded = min, true
	}
	out := make([]int64, n)
	lo := e.bfMin - int64(n)
	for i := range out {
		out[i] = lo + int64(i)
	}
	e.bfMin = lo
	return out, nil
}

// processBackfill runs in the room's actor: each event is checked against
// its auth events and the state before it (a rejected one is kept, marked)
// and stored with a position below the room's timeline. There is no
// soft-failure check: history is not judged by today's state.
func (a *actor) processBackfill(ctx context.Context, bf *backfillBatch) error {
	src := newEventSource(ctx, a.e.store)
	for _, ev := range bf.outliers {
		src.add(ev, false)
	}
	for _, ev := range bf.events {
		src.add(ev, false)
	}
	create := a.st.state[event.StateTuple{Type: event.TypeCreate}]
	newOutliers := a.checkOutliers(bf.remoteBatch, src, create)

	var timeline []receivedEvent
	stateAfter := map[string]roomstore.StateMap{}
	for _, ev := range bf.events {
		res := &IngestResult{EventID: ev.EventID()}
		bf.results[ev.EventID()] = res
		stored, _ := src.stored(ev.EventID())
		if stored != nil && !stored.Outlier {
			continue
		}
		before, ok := bf.stateBefore[ev.EventID()]
		if !ok {
			var err error
			if before, err = a.stateBefore(ev, src, stateAfter, nil); err != nil {
				res.Err = err
				continue
			}
		}
		res.Err = a.checkReceived(ev, before, src, create)
		rejected := res.Err != nil
		after := stateAfterEvent(before, ev, rejected)
		stateAfter[ev.EventID()] = after
		timeline = append(timeline, receivedEvent{ne: roomstore.NewEvent{Event: ev, Rejected: rejected}, before: before, after: after, outlier: stored != nil})
	}
	if len(newOutliers) == 0 && len(timeline) == 0 {
		return nil
	}
	positions, err := a.e.backfillPositions(ctx, len(timeline))
	if err != nil {
		return err
	}
	err = a.e.store.Write(ctx, func(w *roomstore.Writer) error {
		_, err := a.writeReceived(w, newOutliers, timeline, positions, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("storing backfilled events: %w", err)
	}
	for _, t := range timeline {
		if !t.ne.Rejected {
			bf.added++
		}
	}
	return nil
}
