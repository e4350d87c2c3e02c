package stateres

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Untrusted and broken inputs: no panics, clear errors, Synapse's leniency
// for unknown events.

func TestResolve_TrivialCases(t *testing.T) {
	v := roomversion.MustGet("10")
	if _, err := Resolve(nil, nil, &source{}); err == nil {
		t.Error("a nil room version must be an error")
	}
	got, err := Resolve(v, nil, &source{})
	if err != nil || len(got) != 0 {
		t.Errorf("no states resolve to the empty state, got %v, %v", got, err)
	}
	// One state, or equal states, need no events at all: an empty source
	// shows that nothing is fetched.
	s := StateMap{{Type: event.TypeTopic}: "$t", {Type: event.TypeCreate}: "$c"}
	for _, in := range [][]StateMap{{s}, {s, clone(s), clone(s)}} {
		got, err := Resolve(v, in, &source{})
		if err != nil || len(got) != 2 || got[event.StateTuple{Type: event.TypeTopic}] != "$t" {
			t.Errorf("trivial resolution: %v, %v", got, err)
		}
		got[event.StateTuple{Type: event.TypeName}] = "$n"
		if len(s) != 2 {
			t.Error("the result must not share the input map")
		}
	}
	odd := *v
	odd.StateRes = 0
	if _, err := Resolve(&odd, []StateMap{s, {}}, &source{}); err == nil {
		t.Error("an unknown algorithm must be an error")
	}
}

// Synapse drops conflicted events it cannot fetch; unconflicted IDs are
// kept as they are (nothing needs to be read to keep them).
func TestResolve_UnknownEventsDropOut(t *testing.T) {
	forVersions(t, []roomversion.ID{"1", "10", "12"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		a, b := base.fork(), base.fork()
		ta := a.topic(opts{}, alice, "known")
		b.state[event.StateTuple{Type: event.TypeTopic}] = "$unknown:x.test"
		a.state[event.StateTuple{Type: "x.ghost"}] = "$ghost:x.test"
		b.state[event.StateTuple{Type: "x.ghost"}] = "$ghost:x.test"
		got := r.resolve(a.state, b.state)
		r.want(got, event.TypeTopic, "", ta.EventID(), "the unknown topic drops out")
		r.want(got, "x.ghost", "", "$ghost:x.test", "unconflicted IDs are kept unread")
	})
}

type failingSource struct {
	*source
	bad string
}

var errDisk = errors.New("disk on fire")

func (f failingSource) Event(id string) (*event.Event, error) {
	if id == f.bad {
		return nil, errDisk
	}
	return f.source.Event(id)
}

// A source failure other than "not found" aborts the resolution: guessing
// would make servers diverge.
func TestResolve_SourceFailureIsReturned(t *testing.T) {
	forVersions(t, []roomversion.ID{"1", "10", "12"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		pl := base.state[powerLevelsKey]
		a, b := base.fork(), base.fork()
		a.topic(opts{}, alice, "A")
		b.topic(opts{}, alice, "B")
		_, err := Resolve(v, []StateMap{a.state, b.state}, failingSource{r.src, pl})
		if !errors.Is(err, errDisk) {
			t.Errorf("want the source's error, got %v", err)
		}
	})
}

// forged builds an event without any checks: auth_events as given.
func forged(t *testing.T, v *roomversion.Version, roomID, id, typ string, auth []string, ts int64) *event.Event {
	t.Helper()
	b := &event.Builder{Type: typ, StateKey: sp(""), Sender: alice, RoomID: roomID, Content: json.RawMessage(`{}`),
		AuthEvents: auth, PrevEvents: []string{}, Depth: 5, OriginServerTS: ts, EventID: id, Origin: "a.test"}
	e, err := b.Build(v, "a.test", testKey)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// With sender-assigned event IDs (rooms v1, v2) a forger can make
// auth_events loop. Resolution reports it instead of looping or panicking,
// and AuthChain still terminates.
func TestResolve_AuthCycleIsAnError(t *testing.T) {
	v := roomversion.MustGet("2")
	r, base := newRoom(t, v, "public", nil)
	create := base.state[event.StateTuple{Type: event.TypeCreate}]
	p1 := forged(t, v, r.id, "$p1:a.test", event.TypeTopic, []string{create, "$p2:a.test"}, 1)
	p2 := forged(t, v, r.id, "$p2:a.test", event.TypeTopic, []string{create, "$p1:a.test"}, 2)
	r.add(p1, "p1")
	r.add(p2, "p2")
	a, b := base.fork(), base.fork()
	a.state[event.StateTuple{Type: event.TypeTopic}] = p1.EventID()
	b.state[event.StateTuple{Type: event.TypeTopic}] = p2.EventID()
	if _, err := Resolve(v, []StateMap{a.state, b.state}, r.src); !errors.Is(err, ErrBadAuthGraph) {
		t.Errorf("want ErrBadAuthGraph, got %v", err)
	}
	chain, err := AuthChain(r.src, []string{p1.EventID()})
	if err != nil || !chain[p1.EventID()] || !chain[p2.EventID()] || !chain[create] {
		t.Errorf("auth chain through a loop: %v, %v", chain, err)
	}
}

// Synapse refuses to resolve over events of another room.
func TestResolve_EventFromAnotherRoomIsAnError(t *testing.T) {
	v := roomversion.MustGet("10")
	r, base := newRoom(t, v, "public", nil)
	stray := forged(t, v, "!elsewhere:x.test", "", event.TypeTopic, nil, 1)
	r.add(stray, "stray")
	a, b := base.fork(), base.fork()
	a.topic(opts{}, alice, "A")
	b.state[event.StateTuple{Type: event.TypeTopic}] = stray.EventID()
	if _, err := Resolve(v, []StateMap{a.state, b.state}, r.src); !errors.Is(err, ErrBadAuthGraph) {
		t.Errorf("want ErrBadAuthGraph, got %v", err)
	}
}

// fragments/v2-state-res.md "Auth chain": all events reachable through
// auth_events, not the starting events themselves.
func TestAuthChain(t *testing.T) {
	forVersions(t, []roomversion.ID{"10", "12"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		get := func(typ, key string) string { return base.state[event.StateTuple{Type: typ, StateKey: key}] }
		base.join(bob)
		topic := base.topic(opts{}, alice, "hello")
		// topic → create, power levels, alice's join; the power levels →
		// create, alice's join; bob's join → create, power levels, join
		// rules; join rules → create, power levels, alice's join. In v12
		// nothing cites the create event (the room ID stands for it).
		want := map[string]bool{get(event.TypePowerLevels, ""): true, get(event.TypeMember, alice): true}
		if v.CreateEventInAuthEvents {
			want[get(event.TypeCreate, "")] = true
		}
		chain, err := AuthChain(r.src, []string{topic.EventID()})
		if err != nil {
			t.Fatal(err)
		}
		r.sameIDs(chain, want, "auth chain of the topic")

		want[get(event.TypeJoinRules, "")] = true
		chain, err = AuthChain(r.src, []string{topic.EventID(), get(event.TypeMember, bob), "$unknown:x.test"})
		if err != nil {
			t.Fatal(err)
		}
		r.sameIDs(chain, want, "auth chain of the topic and bob's join; unknown events add nothing")
	})
}

func (r *room) sameIDs(got, want map[string]bool, why string) {
	r.t.Helper()
	for id := range want {
		if !got[id] {
			r.t.Errorf("%s: missing %s", why, r.name(id))
		}
	}
	for id := range got {
		if !want[id] {
			r.t.Errorf("%s: unexpected %s", why, r.name(id))
		}
	}
}
