package stateres

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// The test rig builds real, signed rooms with event.Builder. A room is a set
// of events (the EventSource) and any number of branches: lines of history,
// each with its own state. Forking a branch and sending different events on
// each side produces exactly the states that state resolution is for.
// Every event is checked with eventauth against its branch's state and its
// own auth events before it joins the room, so test rooms are valid rooms.

const (
	alice = "@alice:a.test" // creates every room
	bob   = "@bob:b.test"
	carol = "@carol:c.test"
	dave  = "@dave:d.test"
	eve   = "@eve:e.test"
	mo    = "@mo:m.test" // a moderator
)

var testKey = signing.SigningKey{ID: "ed25519:1", Private: ed25519.NewKeyFromSeed(make([]byte, 32))}

func sp(s string) *string { return &s }

// source is a map-backed EventSource.
type source struct {
	events   map[string]*event.Event
	rejected map[string]bool
}

func (s *source) Event(id string) (*event.Event, error) {
	if ev, ok := s.events[id]; ok {
		return ev, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrEventNotFound, id)
}

func (s *source) Rejected(id string) bool { return s.rejected[id] }

type room struct {
	t      testing.TB
	v      *roomversion.Version
	id     string
	create *event.Event
	src    *source
	names  map[string]string // event ID → readable name for failure messages
	seq    int
	ts     int64 // origin_server_ts of the next event unless overridden
}

// branch is one line of history and the state after its last event.
type branch struct {
	r     *room
	state StateMap
	prev  []string
	depth int64
}

// opts tweak one event: its timestamp, its v1/v2 event ID, or sending it
// without the auth checks (to build the events the tests mark as rejected).
type opts struct {
	ts        int64
	id        string
	unchecked bool
}

// plContent is the power_levels content of the test rooms: alice at 100
// (in v12 she is a creator, with infinite power, and may not be listed),
// moderators' actions at 50, changing power levels at 100.
func plContent(v *roomversion.Version, users map[string]int) string {
	return plContentLevel(v, users, 100)
}

// plContentLevel is plContent with another level for m.room.power_levels.
func plContentLevel(v *roomversion.Version, users map[string]int, plLevel int) string {
	u := map[string]int{}
	for k, l := range users {
		u[k] = l
	}
	if v.PrivilegedCreators {
		delete(u, alice)
	} else {
		u[alice] = 100
	}
	j, _ := json.Marshal(u)
	return `{"ban":50,"kick":50,"redact":50,"invite":0,"events_default":0,"state_default":50,"users_default":0,` +
		`"events":{"m.room.power_levels":` + fmt.Sprint(plLevel) + `},"users":` + string(j) + `}`
}

// newRoom creates a room: create and join by alice, power levels with the
// given users, join rules. It returns the room and its one branch.
func newRoom(t testing.TB, v *roomversion.Version, joinRule string, users map[string]int) (*room, *branch) {
	t.Helper()
	r := &room{t: t, v: v, src: &source{events: map[string]*event.Event{}, rejected: map[string]bool{}},
		names: map[string]string{}, ts: 1000}
	content := `{"room_version":"` + string(v.ID) + `"}`
	if !v.CreatorIsSender {
		content = `{"creator":"` + alice + `","room_version":"` + string(v.ID) + `"}`
	}
	b := &event.Builder{Type: event.TypeCreate, StateKey: sp(""), Sender: alice, RoomID: "!room:a.test",
		Content: json.RawMessage(content), PrevEvents: []string{}, AuthEvents: []string{},
		Depth: 1, OriginServerTS: r.ts, EventID: "$create:a.test", Origin: "a.test"}
	if v.RoomIDFromCreateEvent() {
		b.RoomID = ""
	}
	create, err := b.Build(v, "a.test", testKey)
	if err != nil {
		t.Fatalf("build create: %v", err)
	}
	r.create, r.id = create, create.RoomID()
	r.add(create, "create")
	br := &branch{r: r, state: StateMap{{Type: event.TypeCreate}: create.EventID()}, prev: []string{create.EventID()}, depth: 1}
	br.member(alice, alice, event.Join)
	br.powerLevels(alice, users)
	br.joinRules(alice, joinRule)
	return r, br
}

func (r *room) add(e *event.Event, name string) {
	r.src.events[e.EventID()] = e
	if name == "" {
		name = fmt.Sprintf("%s/%s by %s", e.Type(), derefKey(e), e.Sender())
	}
	r.names[e.EventID()] = name
}

func derefKey(e *event.Event) string {
	if sk := e.StateKey(); sk != nil {
		return *sk
	}
	return ""
}

// lookup shows a branch's state to eventauth.
type lookup struct {
	src   *source
	state StateMap
}

func (l lookup) Get(typ, sk string) *event.Event {
	if id, ok := l.state[event.StateTuple{Type: typ, StateKey: sk}]; ok {
		return l.src.events[id]
	}
	return nil
}

func (b *branch) fork() *branch {
	return &branch{r: b.r, state: clone(b.state), prev: append([]string(nil), b.prev...), depth: b.depth}
}

// send builds a state event on top of the branch: prev_events are the
// branch's last events, auth_events are selected from its state. Unless
// o.unchecked, the event must pass the auth rules against the branch state
// and against its own auth events.
func (b *branch) send(o opts, sender, typ, stateKey, content string) *event.Event {
	b.r.t.Helper()
	e, err := b.try(o, sender, typ, stateKey, content)
	if err != nil {
		b.r.t.Fatalf("setting up: %s %s %s: %v", sender, typ, content, err)
	}
	return e
}

// try is send that returns the auth error instead of failing the test.
func (b *branch) try(o opts, sender, typ, stateKey, content string) (*event.Event, error) {
	r := b.r
	r.seq++
	if o.ts == 0 {
		r.ts++
		o.ts = r.ts
	}
	if o.id == "" {
		o.id = fmt.Sprintf("e%d", r.seq)
	}
	server := sender[strings.IndexByte(sender, ':')+1:]
	bl := &event.Builder{Type: typ, StateKey: sp(stateKey), Sender: sender, RoomID: r.id,
		Content: json.RawMessage(content), PrevEvents: append([]string(nil), b.prev...),
		Depth: b.depth + 1, OriginServerTS: o.ts, EventID: "$" + o.id + ":" + server, Origin: server}
	st := lookup{r.src, b.state}
	auth, err := eventauth.SelectAuthEvents(r.v, bl, st)
	if err != nil {
		return nil, err
	}
	bl.AuthEvents = append([]string{}, auth...)
	e, err := bl.Build(r.v, server, testKey)
	if err != nil {
		r.t.Fatalf("build: %v", err)
	}
	if !o.unchecked {
		if err := eventauth.Check(e, st); err != nil {
			return nil, err
		}
		var authEvs []*event.Event
		for _, id := range auth {
			authEvs = append(authEvs, r.src.events[id])
		}
		if err := eventauth.CheckAuthEvents(e, authEvs, r.src.Rejected, r.create); err != nil {
			return nil, err
		}
	}
	r.add(e, "")
	k, _ := e.Tuple()
	b.state[k] = e.EventID()
	b.prev = []string{e.EventID()}
	b.depth = e.Depth()
	return e, nil
}

func (b *branch) member(sender, target, membership string) *event.Event {
	b.r.t.Helper()
	return b.send(opts{}, sender, event.TypeMember, target, `{"membership":"`+membership+`"}`)
}

func (b *branch) join(users ...string) {
	b.r.t.Helper()
	for _, u := range users {
		if jr := (lookup{b.r.src, b.state}).Get(event.TypeJoinRules, ""); jr == nil || !strings.Contains(string(jr.Content()), `"public"`) {
			b.member(alice, u, event.Invite)
		}
		b.member(u, u, event.Join)
	}
}

func (b *branch) powerLevels(sender string, users map[string]int) *event.Event {
	b.r.t.Helper()
	return b.send(opts{}, sender, event.TypePowerLevels, "", plContent(b.r.v, users))
}

func (b *branch) joinRules(sender, rule string) *event.Event {
	b.r.t.Helper()
	return b.send(opts{}, sender, event.TypeJoinRules, "", `{"join_rule":"`+rule+`"}`)
}

func (b *branch) topic(o opts, sender, text string) *event.Event {
	b.r.t.Helper()
	return b.send(o, sender, event.TypeTopic, "", `{"topic":"`+text+`"}`)
}

// merge is a server that has seen both branches sending an event on top of
// both: the branch continues from the resolved state.
func (b *branch) merge(other *branch) *branch {
	b.r.t.Helper()
	s, err := Resolve(b.r.v, []StateMap{b.state, other.state}, b.r.src)
	if err != nil {
		b.r.t.Fatalf("merge: %v", err)
	}
	return &branch{r: b.r, state: s, prev: append(append([]string(nil), b.prev...), other.prev...), depth: max(b.depth, other.depth)}
}

// resolve runs Resolve on the branches' states and fails the test on error.
func (r *room) resolve(states ...StateMap) StateMap {
	r.t.Helper()
	got, err := Resolve(r.v, states, r.src)
	if err != nil {
		r.t.Fatalf("Resolve: %v", err)
	}
	return got
}

// name is a readable name for an event ID in failure messages.
func (r *room) name(id string) string {
	if id == "" {
		return "(none)"
	}
	if n, ok := r.names[id]; ok {
		return n + " " + id
	}
	return id
}

// want checks the resolved event for one key; "" means the key is absent.
func (r *room) want(got StateMap, typ, stateKey, wantID, why string) {
	r.t.Helper()
	if g := got[event.StateTuple{Type: typ, StateKey: stateKey}]; g != wantID {
		r.t.Errorf("%s %q: got %s, want %s (%s)", typ, stateKey, r.name(g), r.name(wantID), why)
	}
}

func (r *room) sameState(got, want StateMap, why string) {
	r.t.Helper()
	var diffs []string
	for k, id := range want {
		if got[k] != id {
			diffs = append(diffs, fmt.Sprintf("%v: got %s want %s", k, r.name(got[k]), r.name(id)))
		}
	}
	for k, id := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%v: unexpected %s", k, r.name(id)))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		r.t.Errorf("%s:\n  %s", why, strings.Join(diffs, "\n  "))
	}
}

// forVersions runs fn for each listed room version.
func forVersions(t *testing.T, ids []roomversion.ID, fn func(t *testing.T, v *roomversion.Version)) {
	for _, id := range ids {
		t.Run("v"+string(id), func(t *testing.T) { fn(t, roomversion.MustGet(id)) })
	}
}

// v2Family lists versions covering every switch that matters to
// resolution v2: sender-assigned IDs (2), hash IDs (3, 4), integer power
// levels (10), creator is sender (11); and 12 for v2.1.
var v2Family = []roomversion.ID{"2", "4", "10", "11", "12"}
