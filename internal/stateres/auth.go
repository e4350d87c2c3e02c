package stateres

import (
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/ids"
)

// stateView is the room state an event is authorised against during
// resolution. It implements eventauth.StateLookup.
type stateView struct {
	r     *resolver
	state StateMap
	ev    *event.Event
	// fallback: a key missing from state is taken from ev's own auth events,
	// skipping rejected ones (fragments/v2-state-res.md "Iterative auth
	// checks" and "Rejected events"). Room v1 has no such fallback.
	fallback bool
	// useRejected lets the fallback use rejected auth events; only the
	// sender power level of the ordering does, as Synapse does.
	useRejected bool
}

var _ eventauth.StateLookup = (*stateView)(nil)

func (s *stateView) Get(typ, stateKey string) *event.Event {
	if id, ok := s.state[event.StateTuple{Type: typ, StateKey: stateKey}]; ok {
		// An ID whose event the source lacks counts as absent.
		if ev := s.r.eventOrNil(id); ev != nil {
			return ev
		}
	}
	if !s.fallback {
		return nil
	}
	for _, aid := range s.ev.AuthEventIDs() {
		ae := s.r.eventOrNil(aid)
		if ae == nil || ae.Type() != typ || !ae.StateKeyEquals(stateKey) {
			continue
		}
		if !s.useRejected && s.r.isRejected(aid) {
			continue
		}
		return ae
	}
	// Room v12 events do not cite the create event: the room ID names it
	// (rooms/v12.md, auth rule 2). Only an accepted create event counts.
	if typ == event.TypeCreate && stateKey == "" && s.r.v.RoomIDFromCreateEvent() {
		if s.r.createID == "" {
			// All events of one resolution share a room (resolver.event
			// checks), so this runs once.
			s.r.createID, _ = ids.CreateEventIDFromRoomID(s.ev.RoomID())
		}
		if id := s.r.createID; id != "" {
			if ce := s.r.eventOrNil(id); ce != nil && ce.Type() == event.TypeCreate && ce.StateKeyEquals("") && !s.r.isRejected(id) {
				return ce
			}
		}
	}
	return nil
}

// allowed runs the authorisation rules for ev against the state view.
func (r *resolver) allowed(ev *event.Event, view *stateView) (bool, error) {
	err := eventauth.Check(ev, view)
	if r.err != nil {
		return false, r.err
	}
	return err == nil, nil
}

// senderLevel is the power level of ev's sender "when looking at their
// respective auth_events" (fragments/v2-state-res.md "Reverse topological
// power ordering"). With no power_levels auth event the auth rules' defaults
// apply: the creator has 100 (rooms v1–v11), v12 creators have infinite
// power, everyone else 0. Like Synapse, rejected auth events still count
// here (this is ordering, not authorisation), and an unreadable power_levels
// event gives 0.
func (r *resolver) senderLevel(ev *event.Event) (int64, error) {
	view := stateView{r: r, ev: ev, fallback: true, useRejected: true}
	pl, err := eventauth.PowerLevelsFrom(&view, r.v)
	if r.err != nil {
		return 0, r.err
	}
	if err != nil {
		return 0, nil
	}
	return pl.UserLevel(ev.Sender()), nil
}
