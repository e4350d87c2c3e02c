package stateres

import (
	"bytes"
	"crypto/sha1"
	"slices"

	"github.com/myelin-chat/myelin/internal/event"
)

// resolveV1 is the room v1 algorithm (rooms/v1.md "State resolution"):
// conflicts are resolved for m.room.power_levels, then m.room.join_rules,
// then m.room.member, then everything else, each pass checking events
// against the state R built so far.
//
// Where rooms/v1.md is terse this follows Synapse: within one pass every key
// is resolved against R as it stood when the pass began (one member's
// resolution does not see another's); only the power levels key with an
// empty state key gets the first pass; and a key whose "other" events all
// fail auth gets the one with the lowest depth.
func (r *resolver) resolveV1(states []StateMap) (StateMap, error) {
	unconflicted, conflicted := separate(states, false)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}
	R := unconflicted
	var pl, joinRules, members, others []event.StateTuple
	byKey := make(map[event.StateTuple][]v1Event, len(conflicted))
	for k, ids := range conflicted {
		evs := make([]v1Event, 0, len(ids))
		for _, id := range ids {
			ev, err := r.event(id)
			if err != nil {
				return nil, err
			}
			if ev != nil { // unknown events drop out, as in Synapse
				evs = append(evs, v1Event{ev, sha1.Sum([]byte(id))})
			}
		}
		switch {
		case len(evs) == 1:
			R[k] = evs[0].EventID()
			continue
		case len(evs) == 0:
			continue
		}
		byKey[k] = evs
		switch {
		case k == powerLevelsKey:
			pl = append(pl, k)
		case k.Type == event.TypeJoinRules:
			joinRules = append(joinRules, k)
		case k.Type == event.TypeMember:
			members = append(members, k)
		default:
			others = append(others, k)
		}
	}
	for _, pass := range []struct {
		keys    []event.StateTuple
		resolve func(R StateMap, k event.StateTuple, evs []v1Event) (string, error)
	}{
		{pl, r.v1AuthKey}, {joinRules, r.v1AuthKey}, {members, r.v1AuthKey}, {others, r.v1OtherKey},
	} {
		resolved := make(StateMap, len(pass.keys))
		for _, k := range pass.keys {
			id, err := pass.resolve(R, k, byKey[k])
			if err != nil {
				return nil, err
			}
			resolved[k] = id
		}
		for k, id := range resolved {
			R[k] = id
		}
	}
	return R, nil
}

type v1Event struct {
	*event.Event
	sha [sha1.Size]byte
}

// v1AuthKey resolves one key of the first three passes: sort by ascending
// depth then descending sha1(event_id), take the first event, then each next
// one while the auth rules allow it in R, stopping at the first refusal.
// R is left as it was found.
func (r *resolver) v1AuthKey(R StateMap, k event.StateTuple, evs []v1Event) (string, error) {
	slices.SortFunc(evs, func(a, b v1Event) int {
		if a.Depth() != b.Depth() {
			return cmpInt(a.Depth(), b.Depth())
		}
		return -bytes.Compare(a.sha[:], b.sha[:])
	})
	R[k] = evs[0].EventID()
	defer delete(R, k) // k is conflicted, so it was not in R before
	view := stateView{r: r, state: R}
	for _, e := range evs[1:] {
		view.ev = e.Event
		ok, err := r.allowed(e.Event, &view)
		if err != nil {
			return "", err
		}
		if !ok {
			break
		}
		R[k] = e.EventID()
	}
	return R[k], nil
}

// v1OtherKey picks the event with the highest depth, then lowest
// sha1(event_id), that the auth rules allow in R. The spec does not say what
// happens when none is allowed; Synapse takes the last one tried (lowest
// depth, highest hash), and so do we.
func (r *resolver) v1OtherKey(R StateMap, k event.StateTuple, evs []v1Event) (string, error) {
	slices.SortFunc(evs, func(a, b v1Event) int {
		if a.Depth() != b.Depth() {
			return cmpInt(b.Depth(), a.Depth())
		}
		return bytes.Compare(a.sha[:], b.sha[:])
	})
	view := stateView{r: r, state: R}
	for _, e := range evs {
		view.ev = e.Event
		ok, err := r.allowed(e.Event, &view)
		if err != nil {
			return "", err
		}
		if ok {
			return e.EventID(), nil
		}
	}
	return evs[len(evs)-1].EventID(), nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
