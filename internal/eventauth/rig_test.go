package eventauth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// The test rig builds real, signed events with event.Builder and keeps the
// room's current state in a StateMap, so that every test reads like a short
// room history: "alice creates the room, bob joins, bob tries to ban alice".

// Users of the test rooms. alice creates every room.
const (
	alice   = "@alice:a.test"
	bob     = "@bob:b.test"
	carol   = "@carol:c.test"
	dave    = "@dave:d.test"
	mallory = "@mallory:m.test"
)

// testKey is the one signing key every test server uses: signatures matter
// here only for presence (join_authorised_via_users_server) and for the
// third-party invite check, which uses its own keys.
var testKey = signing.SigningKey{ID: "ed25519:1", Private: ed25519.NewKeyFromSeed(make([]byte, 32))}

func sp(s string) *string { return &s }

// room is a test room with its current state.
type room struct {
	t      testing.TB
	v      *roomversion.Version
	id     string
	create *event.Event
	state  StateMap
	latest []string
	depth  int64
	seq    int
}

// versions runs fn for every room version for which want holds.
func versions(t *testing.T, want func(v *roomversion.Version) bool, fn func(t *testing.T, v *roomversion.Version)) {
	t.Helper()
	ran := false
	for _, v := range roomversion.All() {
		if want != nil && !want(v) {
			continue
		}
		ran = true
		t.Run("v"+string(v.ID), func(t *testing.T) { fn(t, v) })
	}
	if !ran {
		t.Fatal("no room version matched")
	}
}

func all(*roomversion.Version) bool { return true }

// createContent is the create event content alice uses in version v.
func createContent(v *roomversion.Version, extra string) string {
	c := `"room_version":"` + string(v.ID) + `"`
	if !v.CreatorIsSender {
		c += `,"creator":"` + alice + `"`
	}
	if extra != "" {
		c += "," + extra
	}
	return "{" + c + "}"
}

// defaultPowerLevels is the power_levels content of a new test room: alice
// at 100 (implicitly, as a creator, in v12) plus users, defaults spelled
// out, and top-level members replaced by those in top (e.g. `"ban":70`).
func defaultPowerLevels(v *roomversion.Version, users string, top ...string) string {
	u := users
	if !v.PrivilegedCreators {
		if u != "" {
			u = "," + u
		}
		u = `"` + alice + `":100` + u
	}
	base := `{"ban":50,"events":{"m.room.name":50,"m.room.power_levels":100},"events_default":0,` +
		`"invite":0,"kick":50,"redact":50,"state_default":50,"users":{` + u + `},"users_default":0}`
	if len(top) == 0 {
		return base
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		panic(err)
	}
	for _, t := range top {
		var o map[string]json.RawMessage
		if err := json.Unmarshal([]byte("{"+t+"}"), &o); err != nil {
			panic(err)
		}
		for k, val := range o {
			m[k] = val
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// newBareRoom creates the room (just the create event) with the given extra
// create content.
func newBareRoom(t testing.TB, v *roomversion.Version, createExtra string) *room {
	t.Helper()
	r := &room{t: t, v: v, state: StateMap{}}
	b := &event.Builder{Type: event.TypeCreate, StateKey: sp(""), Sender: alice, RoomID: "!room:a.test",
		Content: json.RawMessage(createContent(v, createExtra)), PrevEvents: []string{}, AuthEvents: []string{},
		Depth: 1, OriginServerTS: 1, EventID: "$create:a.test", Origin: "a.test"}
	if !v.CreateEventHasRoomID {
		b.RoomID = ""
	}
	create, err := b.Build(v, "a.test", testKey)
	if err != nil {
		t.Fatalf("build create: %v", err)
	}
	r.create, r.id = create, create.RoomID()
	r.mustSend(create)
	return r
}

// newRoom creates a public room: create, alice's join, power levels
// (alice 100 plus plUsers), public join rules, shared history.
func newRoom(t testing.TB, v *roomversion.Version, plUsers string) *room {
	t.Helper()
	r := newBareRoom(t, v, "")
	r.mustSend(r.member(alice, alice, event.Join, ""))
	r.mustSend(r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, plUsers)))
	r.setJoinRule("public")
	r.mustSend(r.stateEvent(alice, event.TypeHistoryVisibility, "", `{"history_visibility":"shared"}`))
	return r
}

// build makes a signed event on top of the room's current state: prev_events
// are the latest event, auth_events are selected from the state. mods run
// before the builder is signed.
func (r *room) build(sender, typ string, stateKey *string, content string, mods ...func(*event.Builder)) *event.Event {
	r.t.Helper()
	r.seq++
	server := serverOf(sender)
	b := &event.Builder{Type: typ, StateKey: stateKey, Sender: sender, RoomID: r.id,
		Content: json.RawMessage(content), PrevEvents: append([]string(nil), r.latest...),
		Depth: r.depth + 1, OriginServerTS: int64(1000 + r.seq),
		EventID: fmt.Sprintf("$e%d:%s", r.seq, server), Origin: server}
	// Malformed test events (a member event without state_key) have no
	// selection; they are built with empty auth_events.
	auth, _ := SelectAuthEvents(r.v, b, r.state)
	b.AuthEvents = append([]string{}, auth...)
	for _, m := range mods {
		m(b)
	}
	e, err := b.Build(r.v, server, testKey)
	if err != nil {
		r.t.Fatalf("build %s: %v", typ, err)
	}
	return e
}

// message builds a non-state event.
func (r *room) message(sender, typ, content string) *event.Event {
	r.t.Helper()
	return r.build(sender, typ, nil, content)
}

// stateEvent builds a state event.
func (r *room) stateEvent(sender, typ, stateKey, content string) *event.Event {
	r.t.Helper()
	return r.build(sender, typ, sp(stateKey), content)
}

// member builds an m.room.member event; extra is more content members
// (e.g. `"reason":"x"`).
func (r *room) member(sender, target, membership, extra string) *event.Event {
	r.t.Helper()
	c := `{"membership":"` + membership + `"`
	if extra != "" {
		c += "," + extra
	}
	return r.build(sender, event.TypeMember, sp(target), c+"}")
}

// check runs Check against the room's current state.
func (r *room) check(e *event.Event) error { return Check(e, r.state) }

// apply makes e part of the room's state without checking it.
func (r *room) apply(e *event.Event) {
	if t, ok := e.Tuple(); ok {
		r.state[t] = e
	}
	r.latest = []string{e.EventID()}
	r.depth = e.Depth()
}

// mustSend checks e (and its auth_events list) and applies it.
func (r *room) mustSend(e *event.Event) {
	r.t.Helper()
	if err := r.check(e); err != nil {
		r.t.Fatalf("setting up: %s %s by %s: %v", e.Type(), e.Content(), e.Sender(), err)
	}
	if err := CheckAuthEvents(e, r.authEventsOf(e), nil, r.create); err != nil {
		r.t.Fatalf("setting up: auth events of %s %s: %v", e.Type(), e.Content(), err)
	}
	r.apply(e)
}

// authEventsOf looks up e's auth events in the rig's state.
func (r *room) authEventsOf(e *event.Event) []*event.Event {
	byID := map[string]*event.Event{}
	for _, s := range r.state {
		byID[s.EventID()] = s
	}
	var out []*event.Event
	for _, id := range e.AuthEventIDs() {
		if ae := byID[id]; ae != nil {
			out = append(out, ae)
		}
	}
	return out
}

// join makes user a joined member (alice invites first unless the join
// rule is public).
func (r *room) join(users ...string) {
	r.t.Helper()
	for _, u := range users {
		if joinRule(r.state) != "public" {
			r.mustSend(r.member(alice, u, event.Invite, ""))
		}
		r.mustSend(r.member(u, u, event.Join, ""))
	}
}

func (r *room) setJoinRule(rule string) {
	r.t.Helper()
	r.mustSend(r.stateEvent(alice, event.TypeJoinRules, "", `{"join_rule":"`+rule+`"}`))
}

// setPowerLevels replaces the power levels (sent by alice).
func (r *room) setPowerLevels(content string) {
	r.t.Helper()
	r.mustSend(r.stateEvent(alice, event.TypePowerLevels, "", content))
}

// allow asserts that e passes Check against the room's state.
func allow(t *testing.T, r *room, e *event.Event) {
	t.Helper()
	if err := r.check(e); err != nil {
		t.Errorf("%s %s by %s: want allowed, got %v", e.Type(), e.Content(), e.Sender(), err)
	}
}

// deny asserts that e fails Check with ErrNotAllowed naming rule (the
// room version's own numbering; "" skips the rule check).
func deny(t *testing.T, r *room, e *event.Event, rule string) {
	t.Helper()
	denyErr(t, r.check(e), rule, e)
}

func denyErr(t *testing.T, err error, rule string, e *event.Event) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s %s by %s: want rejected (rule %s), got allowed", e.Type(), e.Content(), e.Sender(), rule)
	case !errors.Is(err, ErrNotAllowed):
		t.Errorf("error %v does not wrap ErrNotAllowed", err)
	case rule != "" && !strings.Contains(err.Error(), "rule "+rule+":"):
		t.Errorf("want rule %s, got %v", rule, err)
	}
}

// The rig itself: every room version can be set up through the auth rules
// (creator join after create, power levels, join rules, a public join).
func TestRig_NewRoomInEveryVersion(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		allow(t, r, r.message(bob, "m.room.message", `{"body":"hi"}`))
	})
}
