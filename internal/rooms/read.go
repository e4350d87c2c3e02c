package rooms

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// StateView is a room state (tuple → event ID) whose events are loaded on
// demand, so that visibility checks fetch only the two or three events they
// look at.
type StateView struct {
	IDs   roomstore.StateMap
	store *roomstore.Store
	ctx   context.Context
	cache map[string]*event.Event
	err   error
}

// Get implements eventauth.StateLookup and visibility.StateLookup. A storage
// failure makes it return nil and is reported by Err.
func (v *StateView) Get(typ, stateKey string) *event.Event {
	id, ok := v.IDs[event.StateTuple{Type: typ, StateKey: stateKey}]
	if !ok {
		return nil
	}
	if ev, ok := v.cache[id]; ok {
		return ev
	}
	ev, err := v.store.EventOnly(v.ctx, id)
	if err != nil {
		v.err = err
		return nil
	}
	v.cache[id] = ev
	return ev
}

// Err reports the first storage error met by Get.
func (v *StateView) Err() error { return v.err }

// Events loads every event of the view whose tuple passes keep (all when
// keep is nil).
func (v *StateView) Events(keep func(event.StateTuple) bool) ([]*event.Event, error) {
	var want []string
	for t, id := range v.IDs {
		if keep == nil || keep(t) {
			if _, ok := v.cache[id]; !ok {
				want = append(want, id)
			}
		}
	}
	got, err := v.store.EventsOnly(v.ctx, want)
	if err != nil {
		return nil, err
	}
	for id, ev := range got {
		v.cache[id] = ev
	}
	var out []*event.Event
	for t, id := range v.IDs {
		if keep == nil || keep(t) {
			if ev, ok := v.cache[id]; ok {
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

// View returns a lazy view of a state map.
func (e *Engine) View(ctx context.Context, ids roomstore.StateMap) *StateView {
	return &StateView{IDs: ids, store: e.store, ctx: ctx, cache: map[string]*event.Event{}}
}

// StateBefore is the state before a stored event.
func (e *Engine) StateBefore(ctx context.Context, se *roomstore.StoredEvent) (*StateView, error) {
	ids, err := e.store.StateAt(ctx, se.StateBefore)
	if err != nil {
		return nil, err
	}
	return e.View(ctx, ids), nil
}

// StateAfter is the state after a stored event.
func (e *Engine) StateAfter(ctx context.Context, se *roomstore.StoredEvent) (*StateView, error) {
	ids, err := e.store.StateAt(ctx, se.StateBefore)
	if err != nil {
		return nil, err
	}
	if t, ok := se.Tuple(); ok && !se.Rejected && !se.SoftFailed {
		m := make(roomstore.StateMap, len(ids)+1)
		for k, v := range ids {
			m[k] = v
		}
		m[t] = se.EventID()
		ids = m
	}
	v := e.View(ctx, ids)
	v.cache[se.EventID()] = se.Event
	return v, nil
}

// StateAtPos is the room's state after its last event at or before stream
// position pos (empty if the room had no events yet).
func (e *Engine) StateAtPos(ctx context.Context, roomID string, pos int64) (*StateView, error) {
	last, err := e.store.LastEventAt(ctx, roomID, pos)
	if err != nil {
		return nil, err
	}
	if last == nil {
		return e.View(ctx, roomstore.StateMap{}), nil
	}
	return e.StateAfter(ctx, last)
}

// CurrentView is the room's current state.
func (e *Engine) CurrentView(ctx context.Context, roomID string) (*StateView, error) {
	ids, err := e.store.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return e.View(ctx, ids), nil
}

// FilterVisible keeps the events userID may see (client-server-api "History
// visibility"). joinedLater says whether the user is joined now (as a member
// reading their room, or false for an outsider reading a world_readable
// room).
func (e *Engine) FilterVisible(ctx context.Context, userID string, evs []*roomstore.StoredEvent, joinedLater bool) ([]*roomstore.StoredEvent, error) {
	ts, err := e.TimelineStates(ctx, evs)
	if err != nil {
		return nil, err
	}
	return ts.Visible(ctx, userID, evs, joinedLater)
}

// TimelineStates holds the state before each event of a timeline (see
// Engine.TimelineStates).
type TimelineStates struct {
	e     *Engine
	views map[int64]visibility.StateLookup // by the events' StateBefore
	read  []*StateView                     // views read from snapshots, for their errors
}

// TimelineStates gives the state before each of evs, for visibility and
// prev_content. The state after a state event is the state before it with
// the event applied, so for a timeline in stream order only the first
// event's snapshot is read: for a user in thousands of rooms, one read per
// room instead of one per state event.
func (e *Engine) TimelineStates(ctx context.Context, evs []*roomstore.StoredEvent) (*TimelineStates, error) {
	ts := &TimelineStates{e: e, views: make(map[int64]visibility.StateLookup, 4)}
	var prev *roomstore.StoredEvent
	depth := 0
	for _, se := range evs {
		_, ok := ts.views[se.StateBefore]
		switch {
		case ok:
		case prev != nil && prev.StateAfter != 0 && se.StateBefore == prev.StateAfter && appliesState(prev) && depth < maxOverlayDepth:
			t, _ := prev.Tuple()
			ts.views[se.StateBefore] = &overlay{base: ts.views[prev.StateBefore], t: t, ev: prev.Event}
			depth++
		case se.StateBefore == 0:
			ts.views[0] = e.View(ctx, roomstore.StateMap{}) // before the create event
		default:
			sv, err := e.StateBefore(ctx, se)
			if err != nil {
				return nil, err
			}
			ts.read = append(ts.read, sv)
			ts.views[se.StateBefore], depth = sv, 0
		}
		prev = se
	}
	return ts, nil
}

// Before is the state before se, one of the timeline's events.
func (ts *TimelineStates) Before(se *roomstore.StoredEvent) visibility.StateLookup {
	return ts.views[se.StateBefore]
}

// Err reports the first storage error met by a lookup.
func (ts *TimelineStates) Err() error {
	for _, sv := range ts.read {
		if err := sv.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Visible keeps the events of the timeline that userID may see (see
// FilterVisible), with those of erased senders redacted for a user who
// was not joined when they were sent (visibility.Erased).
func (ts *TimelineStates) Visible(ctx context.Context, userID string, evs []*roomstore.StoredEvent, joinedLater bool) ([]*roomstore.StoredEvent, error) {
	out := evs[:0:0]
	for _, se := range evs {
		if visibility.CanSee(se.Event, ts.Before(se), userID, joinedLater) {
			out = append(out, se)
		}
	}
	if err := ts.Err(); err != nil {
		return nil, err
	}
	erased, err := ts.e.erasedAmong(ctx, out)
	if err != nil || len(erased) == 0 {
		return out, err
	}
	for i, se := range out {
		if erased[se.Sender()] && visibility.Erased(se.Event, ts.Before(se), userID) {
			out[i] = redactedCopy(se)
		}
	}
	return out, ts.Err()
}

func appliesState(se *roomstore.StoredEvent) bool {
	_, ok := se.Tuple()
	return ok && !se.Rejected && !se.SoftFailed
}

// maxOverlayDepth bounds how many state events overlay one snapshot read,
// so a lookup walks a short chain.
const maxOverlayDepth = 32

// overlay is a state with one more state event applied.
type overlay struct {
	base visibility.StateLookup
	t    event.StateTuple
	ev   *event.Event
}

func (o *overlay) Get(typ, stateKey string) *event.Event {
	if typ == o.t.Type && stateKey == o.t.StateKey {
		return o.ev
	}
	return o.base.Get(typ, stateKey)
}
