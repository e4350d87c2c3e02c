package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/stateres"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// ServersInRoom lists the servers with joined members in the room: the
// destinations of its events.
func (e *Engine) ServersInRoom(ctx context.Context, roomID string) ([]string, error) {
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for u := range members {
		if d := domainOf(u); d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}

// MakeMembership answers make_join, make_leave and make_knock: a template
// event for a remote user, after checking that the membership change would
// be allowed now (server-server-api "Joining Rooms"). versions are the room
// versions the remote server supports (nil: any, as for make_leave).
func (e *Engine) MakeMembership(ctx context.Context, roomID, userID, membership string, versions []string) (*JoinTemplate, error) {
	room, err := e.store.Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if versions != nil {
		ok := false
		for _, v := range versions {
			ok = ok || v == string(room.Version.ID)
		}
		if !ok {
			return nil, merr.New(merr.ErrBadRequest, merr.CodeIncompatibleRoomVer, "your server does not support room version "+string(room.Version.ID))
		}
	}
	content := map[string]any{"membership": membership}
	if membership == event.Join {
		// A restricted room's join names a user of ours who vouches for it
		// (server-server-api "Restricted rooms").
		via, err := e.RestrictedJoinAuthoriser(ctx, roomID, userID)
		if err != nil {
			return nil, err
		}
		if via != "" {
			content["join_authorised_via_users_server"] = via
		}
	}
	var tmpl *JoinTemplate
	r := &request{template: func(a *actor) error {
		st := a.st
		uid := userID
		b := &event.Builder{Type: event.TypeMember, StateKey: &uid, Sender: userID, RoomID: roomID,
			Content: Content(content)}
		ev, err := a.build(b)
		if err != nil {
			return err
		}
		if err := eventauth.Check(ev, st.state); err != nil {
			return merr.Forbidden(err.Error())
		}
		var m map[string]any
		if err := json.Unmarshal(ev.JSON(), &m); err != nil {
			return err
		}
		delete(m, "signatures")
		delete(m, "hashes")
		if !st.version.EventIDsAreHashes() {
			delete(m, "event_id") // the joining server names its own event
		}
		tmpl = &JoinTemplate{RoomVersion: string(st.version.ID), Event: m}
		return nil
	}}
	if _, err := e.submit(ctx, roomID, r); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// AcceptMembership persists a remote server's signed join, leave or knock
// (send_join, send_leave, send_knock). The event must be allowed by the
// current state; for joins it returns the state and auth chain before it.
func (e *Engine) AcceptMembership(ctx context.Context, roomID string, ev *event.Event) (*JoinedRoom, error) {
	if ev.Type() != event.TypeMember || ev.StateKey() == nil || *ev.StateKey() != ev.Sender() || ev.RoomID() != roomID {
		return nil, merr.BadJSON("not a membership event of its own sender in this room")
	}
	res := e.Ingest(ctx, roomID, []*event.Event{ev}, nil)
	for _, r := range res {
		if r.Err != nil {
			return nil, merr.Forbidden(r.Err.Error())
		}
		if r.SoftFailed {
			return nil, merr.Forbidden("the event is not allowed by the room's current state")
		}
	}
	se, err := e.store.Event(ctx, ev.EventID())
	if err != nil {
		return nil, err
	}
	if se.Rejected || se.SoftFailed {
		// Already held from an earlier attempt that was refused.
		return nil, merr.Forbidden("the event was rejected")
	}
	state, chain, err := e.StateAtEvent(ctx, roomID, se.EventID())
	if err != nil {
		return nil, err
	}
	return &JoinedRoom{State: state, AuthChain: chain, Event: se.Event}, nil
}

// StateAtEvent returns the room state before an event and the auth chain
// of that state (for /state and /state_ids).
func (e *Engine) StateAtEvent(ctx context.Context, roomID, eventID string) (state, authChain []*event.Event, err error) {
	se, err := e.store.Event(ctx, eventID)
	if err != nil || se.RoomID() != roomID || se.Outlier {
		return nil, nil, merr.NotFound("event not found")
	}
	ids, err := e.store.StateAt(ctx, se.StateBefore)
	if err != nil {
		return nil, nil, err
	}
	src := newEventSource(ctx, e.store)
	var stateIDs []string
	for _, id := range ids {
		stateIDs = append(stateIDs, id)
	}
	sort.Strings(stateIDs)
	for _, id := range stateIDs {
		ev, err := src.Event(id)
		if err != nil {
			return nil, nil, err
		}
		state = append(state, ev)
	}
	chain, err := e.AuthChain(ctx, stateIDs)
	return state, chain, err
}

// AuthChain returns the events of the auth chain of the given events (in
// v12 with the create event added, as no event cites it).
func (e *Engine) AuthChain(ctx context.Context, eventIDs []string) ([]*event.Event, error) {
	src := newEventSource(ctx, e.store)
	chain, err := stateres.AuthChain(src, eventIDs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(chain))
	for id := range chain {
		ids = append(ids, id)
	}
	if len(eventIDs) > 0 {
		if first, err := src.Event(eventIDs[0]); err == nil && first.Version().RoomIDFromCreateEvent() {
			createID := "$" + first.RoomID()[1:]
			if !chain[createID] && first.EventID() != createID {
				ids = append(ids, createID)
			}
		}
	}
	sort.Strings(ids)
	out := make([]*event.Event, 0, len(ids))
	for _, id := range ids {
		ev, err := src.Event(id)
		if err != nil {
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// Backfill walks prev_events back from the given events (included), newest
// first, returning at most limit accepted events (server-server-api
// "Backfilling and retrieving missing events").
func (e *Engine) Backfill(ctx context.Context, roomID string, from []string, limit int) ([]*event.Event, error) {
	return e.walkBack(ctx, roomID, from, nil, limit, 0, true)
}

// MissingEvents answers get_missing_events: events reachable backwards from
// latest (excluded) that are not reachable from earliest, at most limit,
// no deeper than minDepth, oldest first.
func (e *Engine) MissingEvents(ctx context.Context, roomID string, earliest, latest []string, limit int, minDepth int64) ([]*event.Event, error) {
	stop := map[string]bool{}
	for _, id := range earliest {
		stop[id] = true
	}
	evs, err := e.walkBack(ctx, roomID, latest, stop, limit, minDepth, false)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Depth() < evs[j].Depth() })
	return evs, nil
}

func (e *Engine) walkBack(ctx context.Context, roomID string, from []string, stop map[string]bool, limit int, minDepth int64, includeFrom bool) ([]*event.Event, error) {
	src := newEventSource(ctx, e.store)
	seen := map[string]bool{}
	var queue []string
	var out []*event.Event
	push := func(id string) {
		if !seen[id] && !stop[id] {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	for _, id := range from {
		if includeFrom {
			push(id)
			continue
		}
		seen[id] = true
		if ev, err := src.Event(id); err == nil {
			for _, p := range ev.PrevEventIDs() {
				push(p)
			}
		}
	}
	for len(queue) > 0 && len(out) < limit {
		// Newest (deepest) first, so a limited walk returns the closest events.
		sort.SliceStable(queue, func(i, j int) bool { return depthOf(src, queue[i]) > depthOf(src, queue[j]) })
		id := queue[0]
		queue = queue[1:]
		se, err := src.stored(id)
		if err != nil {
			return nil, err
		}
		if se == nil || se.RoomID() != roomID || se.Rejected || se.Depth() < minDepth {
			continue
		}
		out = append(out, se.Event)
		for _, p := range se.PrevEventIDs() {
			push(p)
		}
	}
	return out, nil
}

func depthOf(src *eventSource, id string) int64 {
	if ev, err := src.Event(id); err == nil {
		return ev.Depth()
	}
	return -1
}

// JoinRemoteRoom persists a room we joined through a resident server: the
// send_join response's auth chain and state become outliers (each checked
// against its own auth events), and our join becomes the first event of the
// room's timeline here, checked against that state.
func (e *Engine) JoinRemoteRoom(ctx context.Context, v *roomversion.Version, join *event.Event, state, authChain []*event.Event) error {
	roomID := join.RoomID()
	if se, err := e.store.Event(ctx, join.EventID()); err == nil && !se.Outlier {
		return nil // already joined with this event
	}
	if _, err := e.store.Room(ctx, roomID); err != nil {
		if err := e.store.Write(ctx, func(w *roomstore.Writer) error {
			return w.CreateRoom(roomID, string(v.ID), join.OriginServerTS())
		}); err != nil && !sqldb.IsUniqueViolation(err) {
			return err
		}
	}
	r := &request{join: &remoteJoin{version: v, join: join, state: state, authChain: authChain}}
	_, err := e.submit(ctx, roomID, r)
	return err
}

type remoteJoin struct {
	version          *roomversion.Version
	join             *event.Event
	state, authChain []*event.Event
}

// processJoin runs in the actor for JoinRemoteRoom.
func (a *actor) processJoin(ctx context.Context, j *remoteJoin) error {
	src := newEventSource(ctx, a.e.store)
	all := append(append([]*event.Event{}, j.authChain...), j.state...)
	for _, ev := range all {
		if ev.RoomID() != j.join.RoomID() {
			return merr.BadJSON("send_join response holds an event of another room")
		}
		src.add(ev, false)
	}
	src.add(j.join, false)
	sort.SliceStable(all, func(i, k int) bool { return all[i].Depth() < all[k].Depth() })
	var create *event.Event
	for _, ev := range all {
		if ev.Type() == event.TypeCreate && ev.StateKeyEquals("") {
			create = ev
		}
	}
	if create == nil {
		return merr.BadJSON("send_join response has no create event")
	}
	var outliers []roomstore.NewEvent
	done := map[string]bool{}
	for _, ev := range all {
		if done[ev.EventID()] {
			continue
		}
		done[ev.EventID()] = true
		rejected := a.checkAuthEvents(ev, src, create) != nil
		if rejected {
			src.rejected[ev.EventID()] = true
		}
		if se, _ := src.stored(ev.EventID()); se == nil {
			outliers = append(outliers, roomstore.NewEvent{Event: ev, Outlier: true, Rejected: rejected})
		}
	}
	st := roomstore.StateMap{}
	for _, ev := range j.state {
		if t, ok := ev.Tuple(); ok && !src.rejected[ev.EventID()] {
			st[t] = ev.EventID()
		}
	}
	lookup := a.lookup(st, src)
	if err := a.checkAuthEvents(j.join, src, create); err != nil {
		return merr.Forbidden("our join is not allowed by its auth events: " + err.Error())
	}
	if err := eventauth.Check(j.join, lookup); err != nil {
		return merr.Forbidden("our join is not allowed by the room state: " + err.Error())
	}
	after := make(roomstore.StateMap, len(st)+1)
	for k, v := range st {
		after[k] = v
	}
	t, _ := j.join.Tuple()
	after[t] = j.join.EventID()

	pos := a.e.stream.Reserve()
	defer a.e.stream.Finish(pos)
	err := a.e.store.Write(ctx, func(w *roomstore.Writer) error {
		// An invite or knock kept while we were outside the room has no
		// state; left in the timeline it would start it, and a newly
		// joined room's /sync would carry the state before it (none)
		// instead of the room's.
		if err := w.DemoteOutsiderMemberships(a.roomID); err != nil {
			return err
		}
		for _, ne := range outliers {
			if _, err := w.InsertEvent(ne); err != nil {
				return err
			}
		}
		before, err := w.NewSnapshot(a.roomID, 0, st, func() roomstore.StateMap { return st })
		if err != nil {
			return err
		}
		afterID, err := w.NewSnapshot(a.roomID, before, roomstore.StateMap{t: j.join.EventID()}, func() roomstore.StateMap { return after })
		if err != nil {
			return err
		}
		ne := roomstore.NewEvent{Event: j.join, StreamPos: pos, StateBefore: before, StateAfter: afterID}
		if se, _ := src.stored(j.join.EventID()); se != nil {
			if err := w.PromoteOutlier(ne); err != nil {
				return err
			}
		} else if _, err := w.InsertEvent(ne); err != nil {
			return err
		}
		for tup, id := range after {
			ev, err := src.Event(id)
			if err != nil {
				return err
			}
			_ = tup
			if err := w.SetCurrentState(ev, pos); err != nil {
				return err
			}
		}
		if err := w.SetCurrentSnapshot(a.roomID, afterID); err != nil {
			return err
		}
		return w.SetForwardExtremities(a.roomID, []string{j.join.EventID()})
	})
	if err != nil {
		return err
	}
	a.st = nil // reload the new state on next use
	if err := a.load(ctx); err != nil {
		return fmt.Errorf("reloading joined room: %w", err)
	}
	a.e.committed([]Committed{{Event: j.join, StreamPos: pos, Wake: append(a.joinedMembers(), *j.join.StateKey())}})
	return nil
}

// BuildEvent builds, signs and authorises an event against the current
// state without persisting it: for events another server must see first
// (an invite it countersigns), which then come back through Ingest.
func (e *Engine) BuildEvent(ctx context.Context, roomID string, b *event.Builder) (*event.Event, error) {
	if _, err := e.store.Room(ctx, roomID); err != nil {
		return nil, err
	}
	b.RoomID = roomID
	var out *event.Event
	r := &request{template: func(a *actor) error {
		ev, err := a.build(b)
		if err != nil {
			return err
		}
		if err := eventauth.Check(ev, a.st.state); err != nil {
			return merr.Forbidden(err.Error())
		}
		// The Policy Server signs before any server sees the event
		// (server-server-api "Asking for a Policy Server signature").
		if ev, err = a.policySign(ctx, ev); err != nil {
			return err
		}
		out = ev
		return nil
	}}
	if _, err := e.submit(ctx, roomID, r); err != nil {
		return nil, err
	}
	return out, nil
}
