// Package stateres resolves conflicting room states: given the states after
// the prev_events of a new event, it computes the state before that event.
// It implements state resolution v1 (room v1, rooms/v1.md "State
// resolution"), v2 (rooms v2–v11, rooms/fragments/v2-state-res.md) and v2.1
// (room v12, rooms/v12.md "State resolution"). Authorization during
// resolution is delegated to eventauth.Check; this package holds no second
// copy of the auth rules.
//
// The package is pure and deterministic: the result depends only on the set
// of input states and the events they reference, never on the order of the
// input slice, map iteration or the order events are fetched in.
//
// Where the spec is silent or ambiguous the code follows Synapse's documented
// behaviour and says so where it does.
package stateres

import (
	"errors"
	"fmt"
	"slices"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// StateMap maps state tuples to event IDs.
type StateMap map[event.StateTuple]string

// EventSource gives access to the events needed during resolution: the
// events of the states and their auth chains. The room engine implements it
// over storage; tests use a map.
type EventSource interface {
	// Event returns the event with this ID (whose EventID must be that ID).
	// For an event it does not have it returns an error wrapping
	// ErrEventNotFound; any other error aborts the resolution. It may be
	// called for any event of the states and their auth chains; each ID is
	// asked for at most once per Resolve call.
	Event(eventID string) (*event.Event, error)
	// Rejected reports whether the event was rejected on receipt. Rejected
	// events are never used as auth events in the iterative auth checks
	// (v2 "Rejected events").
	Rejected(eventID string) bool
}

// ErrEventNotFound is what an EventSource wraps for an unknown event. Unknown
// events are left out of the resolution, as Synapse does: a conflicted event
// that cannot be fetched is dropped, and a missing auth event is as if it
// were not cited.
var ErrEventNotFound = errors.New("stateres: event not found")

// ErrBadAuthGraph marks inputs no honest room can produce: a cycle through
// auth_events (possible only with the sender-chosen event IDs of rooms v1/v2)
// or events from more than one room.
var ErrBadAuthGraph = errors.New("stateres: malformed auth graph")

// Resolve returns the resolution of the given states for room version v.
// The result is a new map; the inputs are not modified.
func Resolve(v *roomversion.Version, states []StateMap, src EventSource) (StateMap, error) {
	if v == nil {
		return nil, errors.New("stateres: nil room version")
	}
	// The trivial cases cost one pass over the states, whatever the algorithm.
	switch len(states) {
	case 0:
		return StateMap{}, nil
	case 1:
		return clone(states[0]), nil
	}
	if allEqual(states) {
		return clone(states[0]), nil
	}
	r := newResolver(v, src)
	switch v.StateRes {
	case roomversion.StateResV1:
		return r.resolveV1(states)
	case roomversion.StateResV2, roomversion.StateResV21:
		return r.resolveV2(states)
	}
	return nil, fmt.Errorf("stateres: room version %s has no known state resolution algorithm", v.ID)
}

func clone(s StateMap) StateMap {
	out := make(StateMap, len(s))
	for k, id := range s {
		out[k] = id
	}
	return out
}

func allEqual(states []StateMap) bool {
	first := states[0]
	for _, s := range states[1:] {
		if len(s) != len(first) {
			return false
		}
		for k, id := range s {
			if fid, ok := first[k]; !ok || fid != id {
				return false
			}
		}
	}
	return true
}

// separate splits the states into the unconflicted state map and the
// conflicted values per key. In v2 (fragments/v2-state-res.md
// "Unconflicted state map and conflicted state set") a key missing from some
// state is conflicted; in v1 (rooms/v1.md: "different event_ids for the same
// key") only differing values conflict, so a key present in some states
// only is unconflicted. Conflicted value lists are sorted and free of
// duplicates.
func separate(states []StateMap, missingConflicts bool) (StateMap, map[event.StateTuple][]string) {
	first := states[0]
	unconflicted := make(StateMap, len(first))
	conflicted := map[event.StateTuple][]string{}
	values := func(k event.StateTuple) []string {
		var vals []string
		for _, s := range states {
			if id, ok := s[k]; ok && !contains(vals, id) {
				vals = append(vals, id)
			}
		}
		slices.Sort(vals) // a set: no trace of the input order may remain
		return vals
	}
	for k, id := range first {
		same := true
		for _, o := range states[1:] {
			oid, ok := o[k]
			if ok && oid != id || !ok && missingConflicts {
				same = false
				break
			}
		}
		if same {
			unconflicted[k] = id
		} else {
			conflicted[k] = values(k)
		}
	}
	// Keys the first state lacks: conflicted in v2; in v1 only if the
	// states that have them disagree.
	for _, s := range states[1:] {
		for k := range s {
			if _, ok := first[k]; ok {
				continue
			}
			if _, ok := conflicted[k]; ok {
				continue
			}
			if _, ok := unconflicted[k]; ok {
				continue
			}
			if vals := values(k); len(vals) == 1 && !missingConflicts {
				unconflicted[k] = vals[0]
			} else {
				conflicted[k] = vals
			}
		}
	}
	return unconflicted, conflicted
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isPowerEvent follows fragments/v2-state-res.md "Power events". Like
// Synapse, power levels and join rules count only with the empty state key
// (the only ones the auth rules read), and m.room.create counts as well (it
// can only be conflicted in a forged room, and then it must sort first).
func isPowerEvent(ev *event.Event) bool {
	sk := ev.StateKey()
	if sk == nil {
		return false
	}
	switch ev.Type() {
	case event.TypePowerLevels, event.TypeJoinRules, event.TypeCreate:
		return *sk == ""
	case event.TypeMember:
		m := ev.Membership()
		return (m == event.Leave || m == event.Ban) && ev.Sender() != *sk
	}
	return false
}
