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
	out := evs[:0:0]
	views := map[int64]*StateView{}
	for _, se := range evs {
		v, ok := views[se.StateBefore]
		if !ok {
			var err error
			if v, err = e.StateBefore(ctx, se); err != nil {
				return nil, err
			}
			views[se.StateBefore] = v
		}
		if visibility.CanSee(se.Event, v, userID, joinedLater) {
			out = append(out, se)
		}
		if err := v.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
