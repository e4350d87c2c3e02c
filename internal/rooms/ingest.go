package rooms

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/stateres"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// Bounds on how much one ingest may fetch from other servers, so a hostile
// peer cannot make us walk its whole DAG.
const (
	maxFetchedAuthEvents = 200
	maxMissingPrev       = 20
)

// remoteBatch is the work handed to a room's actor for received events.
type remoteBatch struct {
	events   []*event.Event // timeline candidates, in depth order
	outliers []*event.Event // auth and state events fetched to support them
	// stateAt overrides the state after a prev event we could not fetch,
	// learned from /state_ids (prev event ID → state map).
	stateAt map[string]roomstore.StateMap
	results map[string]*IngestResult
}

// Ingest processes events of one room received from other servers (a /send
// transaction, backfill, get_missing_events), following server-server-api
// "Checks performed on receipt of a PDU" from step 4 on: the caller has
// checked format, signatures and content hashes. Missing auth and prev events
// are fetched through f (bounded). Each event ends up accepted, rejected (kept,
// marked, never shown) or soft-failed (kept, not shown, not a prev event).
func (e *Engine) Ingest(ctx context.Context, roomID string, evs []*event.Event, f RemoteFetcher) []IngestResult {
	batch := &remoteBatch{stateAt: map[string]roomstore.StateMap{}, results: map[string]*IngestResult{}}
	src := newEventSource(ctx, e.store)
	var todo []*event.Event
	for _, ev := range evs {
		if ev.RoomID() != roomID {
			continue
		}
		if se, err := src.stored(ev.EventID()); err == nil && se != nil && !se.Outlier {
			continue // already have it
		}
		todo = append(todo, ev)
		src.add(ev, false)
	}
	if len(todo) == 0 {
		return nil
	}
	if f != nil {
		todo = e.fetchMissingPrevs(ctx, roomID, todo, src, f, batch)
		e.fetchMissingAuth(ctx, roomID, append(append([]*event.Event{}, todo...), batch.outliers...), src, f, batch)
	}
	e.askPolicyForReceived(ctx, roomID, todo)
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Depth() < todo[j].Depth() })
	batch.events = todo

	out := make([]IngestResult, 0, len(evs))
	r := &request{remote: batch}
	if _, err := e.submit(ctx, roomID, r); err != nil {
		for _, ev := range evs {
			out = append(out, IngestResult{EventID: ev.EventID(), Err: err})
		}
		return out
	}
	for _, ev := range evs {
		if res, ok := batch.results[ev.EventID()]; ok {
			out = append(out, *res)
		} else {
			out = append(out, IngestResult{EventID: ev.EventID()})
		}
	}
	return out
}

// fetchMissingPrevs fills gaps before the received events: first with
// /get_missing_events from our forward extremities, then, for prev events
// still missing, with the state at them from /state_ids.
func (e *Engine) fetchMissingPrevs(ctx context.Context, roomID string, todo []*event.Event, src *eventSource, f RemoteFetcher, batch *remoteBatch) []*event.Event {
	missing := func() []string {
		var ids []string
		seen := map[string]bool{}
		for _, ev := range todo {
			for _, p := range ev.PrevEventIDs() {
				if ok, _ := src.known(p); !ok && !seen[p] {
					seen[p] = true
					ids = append(ids, p)
				}
			}
		}
		return ids
	}
	if len(missing()) == 0 {
		return todo
	}
	exts, _ := e.store.ForwardExtremities(ctx, roomID)
	var latest []string
	for _, ev := range todo {
		latest = append(latest, ev.EventID())
	}
	if got, err := f.MissingEvents(ctx, roomID, exts, latest, maxMissingPrev); err == nil {
		for _, ev := range got {
			if ev.RoomID() != roomID {
				continue
			}
			if ok, _ := src.known(ev.EventID()); !ok {
				src.add(ev, false)
				todo = append(todo, ev)
			}
		}
	}
	for _, p := range missing() {
		state, err := e.remoteStateBefore(ctx, roomID, p, src, f, batch)
		if err != nil {
			continue // the event will be checked against the prev states we have
		}
		// /state_ids gives the state before p; the state after p adds p
		// itself when p is a state event.
		if pev, err := e.outlier(ctx, roomID, p, src, f, batch); err == nil && pev != nil {
			if t, ok := pev.Tuple(); ok {
				state[t] = p
			}
		}
		batch.stateAt[p] = state
	}
	return todo
}

// remoteStateBefore asks f for the state before an event (/state_ids) and
// fetches the state events we lack as outliers. State events that cannot
// be fetched are left out.
func (e *Engine) remoteStateBefore(ctx context.Context, roomID, eventID string, src *eventSource, f RemoteFetcher, batch *remoteBatch) (roomstore.StateMap, error) {
	stateIDs, _, err := f.StateIDs(ctx, roomID, eventID)
	if err != nil {
		return nil, err
	}
	state := roomstore.StateMap{}
	for _, id := range stateIDs {
		ev, err := e.outlier(ctx, roomID, id, src, f, batch)
		if err != nil || ev == nil {
			continue
		}
		if t, ok := ev.Tuple(); ok {
			state[t] = id
		}
	}
	return state, nil
}

// outlier returns an event we have or fetches it as an outlier.
func (e *Engine) outlier(ctx context.Context, roomID, id string, src *eventSource, f RemoteFetcher, batch *remoteBatch) (*event.Event, error) {
	if ev, err := src.Event(id); err == nil {
		return ev, nil
	}
	if len(batch.outliers) >= maxFetchedAuthEvents {
		return nil, errors.New("too many events to fetch")
	}
	ev, err := f.FetchEvent(ctx, roomID, id)
	if err != nil {
		return nil, err
	}
	if ev.EventID() != id || ev.RoomID() != roomID {
		return nil, fmt.Errorf("fetched event %s is not what we asked for", id)
	}
	src.add(ev, false)
	batch.outliers = append(batch.outliers, ev)
	return ev, nil
}

// fetchMissingAuth makes sure every auth event (transitively) is known.
func (e *Engine) fetchMissingAuth(ctx context.Context, roomID string, evs []*event.Event, src *eventSource, f RemoteFetcher, batch *remoteBatch) {
	queue := append([]*event.Event{}, evs...)
	for len(queue) > 0 {
		ev := queue[0]
		queue = queue[1:]
		for _, id := range ev.AuthEventIDs() {
			if ok, _ := src.known(id); ok {
				continue
			}
			aev, err := e.outlier(ctx, roomID, id, src, f, batch)
			if err != nil || aev == nil {
				continue
			}
			queue = append(queue, aev)
		}
	}
}

// processRemote runs in the room's actor: auth checks, state, persistence.
func (a *actor) processRemote(ctx context.Context, batch *remoteBatch) error {
	src := newEventSource(ctx, a.e.store)
	v := a.st.version
	for _, ev := range batch.outliers {
		src.add(ev, false)
	}
	for _, ev := range batch.events {
		src.add(ev, false)
	}
	create := a.st.state[event.StateTuple{Type: event.TypeCreate}]
	newOutliers := a.checkOutliers(batch, src, create)

	var timeline []receivedEvent
	stateAfter := map[string]roomstore.StateMap{} // for events of this batch
	for _, ev := range batch.events {
		res := &IngestResult{EventID: ev.EventID()}
		batch.results[ev.EventID()] = res
		stored, _ := src.stored(ev.EventID())
		if stored != nil && !stored.Outlier {
			continue
		}
		before, err := a.stateBefore(ev, src, stateAfter, batch.stateAt)
		if err != nil {
			res.Err = err
			continue
		}
		res.Err = a.checkReceived(ev, before, src, create)
		rejected := res.Err != nil
		softFailed := false
		if !rejected {
			// The auth rules against the current state, then the room's
			// Policy Server (server-server-api "Checks performed on
			// receipt of a PDU", steps 6 and 7).
			if err := eventauth.Check(ev, a.st.state); err != nil || !a.policyRecommends(ev) {
				softFailed = true
				res.SoftFailed = true
			}
		}
		after := stateAfterEvent(before, ev, rejected)
		stateAfter[ev.EventID()] = after
		timeline = append(timeline, receivedEvent{ne: roomstore.NewEvent{Event: ev, Rejected: rejected, SoftFailed: softFailed,
			AfterGap: afterGap(ev, stateAfter, src)},
			before: before, after: after, outlier: stored != nil})
	}
	if len(newOutliers) == 0 && len(timeline) == 0 {
		return nil
	}

	// New forward extremities: drop what the accepted events point to, add
	// them; rejected and soft-failed events never become prev events.
	exts := map[string]*event.Event{}
	for _, x := range a.st.extremities {
		exts[x.EventID()] = x
	}
	for _, t := range timeline {
		if t.ne.Rejected || t.ne.SoftFailed {
			continue
		}
		for _, p := range t.ne.Event.PrevEventIDs() {
			delete(exts, p)
		}
		exts[t.ne.Event.EventID()] = t.ne.Event
	}
	// The new current state resolves the states at every extremity.
	var states []stateres.StateMap
	extIDs := make([]string, 0, len(exts))
	for id := range exts {
		extIDs = append(extIDs, id)
		st, ok := stateAfter[id]
		if !ok {
			var err error
			if st, err = a.storedStateAfter(id, src); err != nil {
				return err
			}
		}
		states = append(states, stateres.StateMap(st))
	}
	sort.Strings(extIDs)
	current, err := stateres.Resolve(v, states, src)
	if err != nil {
		return fmt.Errorf("resolving current state: %w", err)
	}

	positions := make([]int64, len(timeline))
	for i := range timeline {
		positions[i] = a.e.stream.Reserve()
	}
	defer func() {
		for _, p := range positions {
			a.e.stream.Finish(p)
		}
	}()
	var committed []Committed
	var newSnapshot int64
	newState := eventauth.StateMap{}
	for t, id := range current {
		ev, err := src.Event(id)
		if err != nil {
			return err
		}
		newState[t] = ev
	}
	err = a.e.store.Write(ctx, func(w *roomstore.Writer) error {
		committed = committed[:0]
		snaps, err := a.writeReceived(w, newOutliers, timeline, positions, src)
		if err != nil {
			return err
		}
		for i, t := range timeline {
			if !t.ne.Rejected && !t.ne.SoftFailed {
				committed = append(committed, Committed{Event: t.ne.Event, StreamPos: positions[i]})
			}
		}
		// The room's current snapshot: the single extremity's state when the
		// DAG has one tip, otherwise the resolved state as a delta over the
		// previous current snapshot.
		curSnap := int64(-1)
		if len(extIDs) == 1 {
			if s, ok := snaps[extIDs[0]]; ok {
				curSnap = s
			} else if se, _ := src.stored(extIDs[0]); se != nil && !se.Outlier {
				curSnap = se.StateAfter
				if curSnap == 0 {
					curSnap = se.StateBefore
				}
			}
		}
		if curSnap < 0 {
			old, err := w.StateAt(a.st.snapshot)
			if err != nil {
				return err
			}
			delta := roomstore.StateMap{}
			for t, id := range current {
				if old[t] != id {
					delta[t] = id
				}
			}
			for t := range old {
				if _, ok := current[t]; !ok {
					delta[t] = ""
				}
			}
			full := roomstore.StateMap(current)
			if curSnap, err = w.NewSnapshot(a.roomID, a.st.snapshot, delta, func() roomstore.StateMap { return full }); err != nil {
				return err
			}
		}
		newSnapshot = curSnap
		if err := w.SetCurrentSnapshot(a.roomID, curSnap); err != nil {
			return err
		}
		// Current state: write what changed.
		for t, ev := range newState {
			if old, ok := a.st.state[t]; ok && old.EventID() == ev.EventID() {
				continue
			}
			if err := w.SetCurrentState(ev, a.e.stream.Current()); err != nil {
				return err
			}
		}
		for t := range a.st.state {
			if _, ok := newState[t]; !ok {
				if err := w.DeleteCurrentState(a.roomID, t.Type, t.StateKey); err != nil {
					return err
				}
			}
		}
		return w.SetForwardExtremities(a.roomID, extIDs)
	})
	if err != nil {
		return err
	}
	a.st.state = newState
	a.st.snapshot = newSnapshot
	a.st.joined = map[string]bool{}
	for t, ev := range newState {
		if t.Type == event.TypeMember && ev.Membership() == event.Join {
			a.st.joined[t.StateKey] = true
		}
	}
	a.st.extremities = a.st.extremities[:0]
	for _, id := range extIDs {
		a.st.extremities = append(a.st.extremities, exts[id])
	}
	members := a.joinedMembers()
	for i := range committed {
		wake := members
		if committed[i].Event.Type() == event.TypeMember && committed[i].Event.StateKey() != nil {
			wake = append(append([]string(nil), members...), *committed[i].Event.StateKey())
		}
		committed[i].Wake = wake
	}
	a.e.committed(committed)
	return nil
}

// checkOutliers checks fetched outliers against their own auth events, in
// depth order so a rejection propagates to events citing them, and returns
// those not yet stored.
func (a *actor) checkOutliers(batch *remoteBatch, src *eventSource, create *event.Event) []roomstore.NewEvent {
	outliers := append([]*event.Event{}, batch.outliers...)
	sort.SliceStable(outliers, func(i, j int) bool { return outliers[i].Depth() < outliers[j].Depth() })
	var out []roomstore.NewEvent
	for _, ev := range outliers {
		if known, _ := src.stored(ev.EventID()); known != nil {
			continue
		}
		rejected := a.checkAuthEvents(ev, src, create) != nil
		if rejected {
			src.rejected[ev.EventID()] = true
		}
		out = append(out, roomstore.NewEvent{Event: ev, Outlier: true, Rejected: rejected})
	}
	return out
}

// afterGap reports whether a received event follows a hole in our
// history: one of its prev events is neither in the timeline nor earlier
// in this batch (known at most as an outlier, through /state_ids). That
// happens when /get_missing_events could not fill the gap
// (server-server-api "Retrieving missing events"); /sync then marks the
// timeline limited at this event.
func afterGap(ev *event.Event, batchTimeline map[string]roomstore.StateMap, src *eventSource) bool {
	for _, p := range ev.PrevEventIDs() {
		if _, ok := batchTimeline[p]; ok {
			continue
		}
		if se, _ := src.stored(p); se == nil || se.Outlier {
			return true
		}
	}
	return false
}

// receivedEvent is a received event on its way into the timeline, with
// the state before and after it.
type receivedEvent struct {
	ne            roomstore.NewEvent
	before, after roomstore.StateMap
	outlier       bool // already stored as an outlier: promote
}

// writeReceived stores new outliers and then received events at the given
// stream positions: the snapshot before each (reusing its prev event's
// when unchanged) and after it, the row (or the outlier's promotion), and
// the effect of accepted redactions. It returns each event's snapshot
// after it.
func (a *actor) writeReceived(w *roomstore.Writer, outliers []roomstore.NewEvent, timeline []receivedEvent, positions []int64, src *eventSource) (map[string]int64, error) {
	for _, ne := range outliers {
		if _, err := w.InsertEvent(ne); err != nil {
			return nil, err
		}
		if err := w.ApplyPendingRedactions(ne.Event); err != nil {
			return nil, err
		}
	}
	snaps := map[string]int64{} // event ID → snapshot after it (this batch)
	for i, t := range timeline {
		ne := t.ne
		ne.StreamPos = positions[i]
		before, err := a.snapshotFor(w, ne.Event, t.before, snaps, src)
		if err != nil {
			return nil, err
		}
		ne.StateBefore, ne.StateAfter = before, before
		if tup, ok := ne.Event.Tuple(); ok && !ne.Rejected {
			after := t.after
			if ne.StateAfter, err = w.NewSnapshot(a.roomID, before, roomstore.StateMap{tup: ne.Event.EventID()}, func() roomstore.StateMap { return after }); err != nil {
				return nil, err
			}
		}
		snaps[ne.Event.EventID()] = ne.StateAfter
		if t.outlier {
			if err := w.PromoteOutlier(ne); err != nil {
				return nil, err
			}
		} else if _, err := w.InsertEvent(ne); err != nil {
			return nil, err
		}
		if err := w.ApplyPendingRedactions(ne.Event); err != nil {
			return nil, err
		}
		if !ne.Rejected && !ne.SoftFailed && ne.Event.Type() == event.TypeRedaction && ne.Event.Redacts() != "" {
			if err := a.applyRemoteRedaction(w, ne.Event); err != nil {
				return nil, err
			}
		}
	}
	return snaps, nil
}

// checkReceived applies the auth rules to a received event, against its
// auth events and the state before it (server-server-api "Checks performed
// on receipt of a PDU", steps 5 and 6); a rejection is remembered in src so
// that events citing ev are rejected too.
func (a *actor) checkReceived(ev *event.Event, before roomstore.StateMap, src *eventSource, create *event.Event) error {
	err := a.checkAuthEvents(ev, src, create)
	if err == nil {
		err = eventauth.Check(ev, a.lookup(before, src))
	}
	if err != nil {
		src.rejected[ev.EventID()] = true
	}
	return err
}

// stateAfterEvent is the state after ev given the state before it.
func stateAfterEvent(before roomstore.StateMap, ev *event.Event, rejected bool) roomstore.StateMap {
	t, ok := ev.Tuple()
	if !ok || rejected {
		return before
	}
	after := make(roomstore.StateMap, len(before)+1)
	for k, v := range before {
		after[k] = v
	}
	after[t] = ev.EventID()
	return after
}

// checkAuthEvents applies the auth_events rules with events from src.
func (a *actor) checkAuthEvents(ev *event.Event, src *eventSource, create *event.Event) error {
	var auth []*event.Event
	for _, id := range ev.AuthEventIDs() {
		aev, err := src.Event(id)
		if err != nil {
			return fmt.Errorf("auth event %s unavailable: %w", id, err)
		}
		auth = append(auth, aev)
	}
	if create == nil && ev.Type() == event.TypeCreate {
		create = ev
	}
	return eventauth.CheckAuthEvents(ev, auth, src.Rejected, create)
}

// stateBefore computes the state before ev from the states after its prev
// events (resolved when there are several).
func (a *actor) stateBefore(ev *event.Event, src *eventSource, batchAfter map[string]roomstore.StateMap, override map[string]roomstore.StateMap) (roomstore.StateMap, error) {
	var states []stateres.StateMap
	for _, p := range ev.PrevEventIDs() {
		if st, ok := batchAfter[p]; ok {
			states = append(states, stateres.StateMap(st))
			continue
		}
		if st, ok := override[p]; ok {
			states = append(states, stateres.StateMap(st))
			continue
		}
		st, err := a.storedStateAfter(p, src)
		if err != nil {
			continue // unknown prev event: judge by the others
		}
		states = append(states, stateres.StateMap(st))
	}
	if len(states) == 0 {
		if ev.Type() == event.TypeCreate {
			return roomstore.StateMap{}, nil
		}
		return nil, fmt.Errorf("no known prev event of %s", ev.EventID())
	}
	if len(states) == 1 {
		return roomstore.StateMap(states[0]), nil
	}
	res, err := stateres.Resolve(a.st.version, states, src)
	if err != nil {
		return nil, err
	}
	return roomstore.StateMap(res), nil
}

// storedStateAfter is the state after a stored timeline event.
func (a *actor) storedStateAfter(id string, src *eventSource) (roomstore.StateMap, error) {
	se, err := src.stored(id)
	if err != nil {
		return nil, err
	}
	if se == nil || se.Outlier {
		return nil, fmt.Errorf("no state known at %s", id)
	}
	snap := se.StateAfter
	if snap == 0 {
		snap = se.StateBefore
	}
	st, err := a.e.store.StateAt(src.ctx, snap)
	if err != nil {
		return nil, err
	}
	if se.StateAfter == 0 {
		if t, ok := se.Tuple(); ok && !se.Rejected {
			// Events persisted before state_after existed.
			m := make(roomstore.StateMap, len(st)+1)
			for k, v := range st {
				m[k] = v
			}
			m[t] = id
			return m, nil
		}
	}
	return st, nil
}

// snapshotFor finds or writes the snapshot of the state before ev: when a
// single prev event's state carries over unchanged its snapshot is reused.
func (a *actor) snapshotFor(w *roomstore.Writer, ev *event.Event, before roomstore.StateMap, snaps map[string]int64, src *eventSource) (int64, error) {
	var parent int64
	if prevs := ev.PrevEventIDs(); len(prevs) >= 1 {
		if s, ok := snaps[prevs[0]]; ok {
			parent = s
		} else if se, err := src.stored(prevs[0]); err == nil && se != nil && !se.Outlier {
			parent = se.StateAfter
			if parent == 0 {
				parent = se.StateBefore
			}
		}
	}
	var parentState roomstore.StateMap
	if parent != 0 {
		var err error
		if parentState, err = w.StateAt(parent); err != nil {
			return 0, err
		}
	}
	delta := roomstore.StateMap{}
	for t, id := range before {
		if parentState[t] != id {
			delta[t] = id
		}
	}
	for t := range parentState {
		if _, ok := before[t]; !ok {
			delta[t] = "" // removed
		}
	}
	if len(delta) == 0 && parent != 0 {
		return parent, nil
	}
	return w.NewSnapshot(a.roomID, parent, delta, func() roomstore.StateMap { return before })
}

// lookup turns a state map of IDs into an auth-rule state lookup.
func (a *actor) lookup(st roomstore.StateMap, src *eventSource) eventauth.StateLookup {
	m := eventauth.StateMap{}
	for t, id := range st {
		if ev, err := src.Event(id); err == nil {
			m[t] = ev
		}
	}
	return m
}

// applyRemoteRedaction marks the target redacted when the redaction may
// take effect (rooms/fragments/v3-handling-redactions.md): the redacter has
// the redact level, or is on the same server as the original sender. A
// target not held yet is redacted when it arrives.
func (a *actor) applyRemoteRedaction(w *roomstore.Writer, red *event.Event) error {
	anySender := false
	if pl, err := eventauth.PowerLevelsFrom(a.st.state, a.st.version); err == nil {
		anySender = pl.UserLevel(red.Sender()) >= pl.Redact
	}
	return w.ApplyRedaction(red, anySender)
}

func domainOf(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[i+1:]
		}
	}
	return ""
}
