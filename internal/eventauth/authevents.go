package eventauth

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// AuthEventsNeeded lists the state tuples that server-server-api.md "Auth
// events selection" picks for an event with these properties, in a fixed
// order: create (only where the room version cites it), power levels,
// sender's member, then for m.room.member the target's member, join rules,
// third-party invite and authorising user's member as applicable. The
// m.room.create event itself needs none.
//
// Content that does not have the shape a rule looks for (a membership that
// is not a string, a third_party_invite without signed.token) simply selects
// nothing extra; the authorisation rules reject such events later. Errors are
// returned only for a member event without a state_key and content that is
// not a JSON object.
func AuthEventsNeeded(v *roomversion.Version, typ string, stateKey *string, sender string, content json.RawMessage) ([]event.StateTuple, error) {
	if typ == event.TypeCreate && stateKey != nil && *stateKey == "" {
		return nil, nil
	}
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	if content[0] != '{' {
		return nil, errors.New("eventauth: content is not a JSON object")
	}
	out := make([]event.StateTuple, 0, 6)
	add := func(t event.StateTuple) {
		for _, x := range out {
			if x == t {
				return
			}
		}
		out = append(out, t)
	}
	if v.CreateEventInAuthEvents {
		add(event.StateTuple{Type: event.TypeCreate})
	}
	add(event.StateTuple{Type: event.TypePowerLevels})
	add(event.StateTuple{Type: event.TypeMember, StateKey: sender})
	if typ != event.TypeMember {
		return out, nil
	}
	if stateKey == nil {
		return nil, errors.New("eventauth: m.room.member without state_key")
	}
	add(event.StateTuple{Type: event.TypeMember, StateKey: *stateKey})
	membership := membershipOf(content)
	switch membership {
	case event.Join, event.Invite, event.Knock:
		add(event.StateTuple{Type: event.TypeJoinRules})
	}
	if membership == event.Invite {
		if tpi, err := contentGet(content, "third_party_invite"); err == nil {
			if signed, err := contentGet(tpi, "signed"); err == nil {
				if token, ok := contentString(signed, "token"); ok {
					add(event.StateTuple{Type: event.TypeThirdPartyInvite, StateKey: token})
				}
			}
		}
	}
	if membership == event.Join && v.RestrictedJoins {
		if via, ok := contentString(content, "join_authorised_via_users_server"); ok {
			add(event.StateTuple{Type: event.TypeMember, StateKey: via})
		}
	}
	return out, nil
}

// SelectAuthEvents returns the IDs of the current state events that an event
// being built must cite in auth_events, looked up in state, in the order of
// AuthEventsNeeded.
func SelectAuthEvents(v *roomversion.Version, b *event.Builder, state StateLookup) ([]string, error) {
	tuples, err := AuthEventsNeeded(v, b.Type, b.StateKey, b.Sender, b.Content)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(tuples))
	for _, t := range tuples {
		if e := state.Get(t.Type, t.StateKey); e != nil {
			out = append(out, e.EventID())
		}
	}
	return out, nil
}

// CheckAuthEvents applies the rules about ev's own auth_events (rooms/v12.md
// rules 2–3, v1–v11 rule 2) and then Check against the state those events
// form. authEvents are the events named by ev.AuthEventIDs(), fetched by the
// caller; isRejected reports whether an event was rejected (nil means none
// was); create is the room's create event, needed in room v12, where events
// do not cite it (it may be nil in earlier versions).
func CheckAuthEvents(ev *event.Event, authEvents []*event.Event, isRejected func(eventID string) bool, create *event.Event) error {
	v := ev.Version()
	if isRejected == nil {
		isRejected = func(string) bool { return false }
	}
	if ev.Type() == event.TypeCreate {
		// Rule 1 decides create events before the auth_events rules apply.
		return Check(ev, StateMap{})
	}

	if v.RoomIDFromCreateEvent() {
		// v12 rule 2: the room ID names an accepted create event.
		if create == nil || create.Type() != event.TypeCreate || !create.StateKeyEquals("") || create.RoomID() != ev.RoomID() {
			return reject(ruleNo(v, "roomid"), "room ID %s is not that of a known m.room.create event", ev.RoomID())
		}
		if isRejected(create.EventID()) {
			return reject(ruleNo(v, "roomid"), "the room's m.room.create event %s was rejected", create.EventID())
		}
	}

	cited := make(map[string]bool, len(ev.AuthEventIDs()))
	for _, id := range ev.AuthEventIDs() {
		if cited[id] {
			return reject(ruleNo(v, "authevents", "duplicate"), "auth event %s cited twice", id)
		}
		cited[id] = true
	}
	byID := make(map[string]*event.Event, len(authEvents))
	for _, ae := range authEvents {
		if ae == nil {
			continue
		}
		if !cited[ae.EventID()] {
			return fmt.Errorf("eventauth: %s is not among the auth events of %s", ae.EventID(), ev.EventID())
		}
		byID[ae.EventID()] = ae
	}

	needed, err := AuthEventsNeeded(v, ev.Type(), ev.StateKey(), ev.Sender(), ev.Content())
	if err != nil {
		return reject(ruleNo(v, "member", "required"), "%v", err)
	}
	state := make(StateMap, len(authEvents)+1)
	for _, id := range ev.AuthEventIDs() {
		ae := byID[id]
		if ae == nil {
			// The spec wants missing auth events fetched first; one that
			// cannot be had leaves the event unauthorised.
			return reject(ruleNo(v, "authevents"), "auth event %s is not available", id)
		}
		t, ok := ae.Tuple()
		if !ok {
			return reject(ruleNo(v, "authevents", "selection"), "auth event %s is not a state event", id)
		}
		if state[t] != nil {
			return reject(ruleNo(v, "authevents", "duplicate"), "two auth events for (%s, %q)", t.Type, t.StateKey)
		}
		if !tupleIn(needed, t) {
			return reject(ruleNo(v, "authevents", "selection"), "auth event %s (%s, %q) is not one the event needs", id, t.Type, t.StateKey)
		}
		if isRejected(id) {
			return reject(ruleNo(v, "authevents", "rejected"), "auth event %s was rejected", id)
		}
		state[t] = ae
	}
	if v.CreateEventInAuthEvents && state[event.StateTuple{Type: event.TypeCreate}] == nil {
		return reject(ruleNo(v, "authevents", "nocreate"), "no m.room.create among the auth events")
	}
	for _, id := range ev.AuthEventIDs() {
		if ae := byID[id]; ae.RoomID() != ev.RoomID() {
			return reject(ruleNo(v, "authevents", "roomid"), "auth event %s is in room %s, not %s", ae.EventID(), ae.RoomID(), ev.RoomID())
		}
	}
	if !v.CreateEventInAuthEvents {
		state[event.StateTuple{Type: event.TypeCreate}] = create
	}
	return Check(ev, state)
}

func tupleIn(list []event.StateTuple, t event.StateTuple) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}
