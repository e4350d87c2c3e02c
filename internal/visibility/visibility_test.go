package visibility

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

type state map[event.StateTuple]*event.Event

func (s state) Get(t, k string) *event.Event { return s[event.StateTuple{Type: t, StateKey: k}] }

func build(t *testing.T, typ string, sk *string, sender string, content string) *event.Event {
	t.Helper()
	key, _ := signing.NewSigningKey("k", make([]byte, 32))
	b := event.Builder{Type: typ, StateKey: sk, Sender: sender, RoomID: "!r:hs", Content: json.RawMessage(content), Depth: 2, OriginServerTS: 1}
	e, err := b.Build(roomversion.MustGet("10"), "hs", key)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sp(s string) *string { return &s }

// client-server-api "History visibility": the five steps.
func TestHistoryVisibilityRules(t *testing.T) {
	msg := build(t, "m.room.message", nil, "@a:hs", `{"body":"x"}`)
	hv := func(v string) *event.Event {
		return build(t, event.TypeHistoryVisibility, sp(""), "@a:hs", `{"history_visibility":"`+v+`"}`)
	}
	mem := func(u, m string) *event.Event {
		return build(t, event.TypeMember, sp(u), u, `{"membership":"`+m+`"}`)
	}
	bob := "@bob:hs"
	cases := []struct {
		name        string
		st          state
		joinedLater bool
		want        bool
	}{
		{"world_readable is visible to anyone", state{{Type: event.TypeHistoryVisibility}: hv(WorldReadable)}, false, true},
		{"joined at the event sees it", state{{Type: event.TypeHistoryVisibility}: hv(Joined), {Type: event.TypeMember, StateKey: bob}: mem(bob, "join")}, false, true},
		{"joined visibility hides events from before the join", state{{Type: event.TypeHistoryVisibility}: hv(Joined)}, true, false},
		{"shared shows earlier events to later joiners", state{{Type: event.TypeHistoryVisibility}: hv(Shared)}, true, true},
		{"shared hides from users who never joined", state{{Type: event.TypeHistoryVisibility}: hv(Shared)}, false, false},
		{"invited shows events once invited", state{{Type: event.TypeHistoryVisibility}: hv(Invited), {Type: event.TypeMember, StateKey: bob}: mem(bob, "invite")}, false, true},
		{"invited hides events before the invite", state{{Type: event.TypeHistoryVisibility}: hv(Invited)}, true, false},
		{"missing history visibility means shared", state{}, true, true},
		{"left users do not see later events under joined", state{{Type: event.TypeHistoryVisibility}: hv(Joined), {Type: event.TypeMember, StateKey: bob}: mem(bob, "leave")}, false, false},
	}
	for _, c := range cases {
		if got := CanSee(msg, c.st, bob, c.joinedLater); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUsersAlwaysSeeTheirOwnMembership(t *testing.T) {
	join := build(t, event.TypeMember, sp("@bob:hs"), "@bob:hs", `{"membership":"join"}`)
	st := state{{Type: event.TypeHistoryVisibility}: build(t, event.TypeHistoryVisibility, sp(""), "@a:hs", `{"history_visibility":"joined"}`)}
	if !CanSee(join, st, "@bob:hs", false) {
		t.Error("bob's own join must be visible to bob")
	}
}

// Account deactivation with erase (v1.10): an erased sender's events are
// redacted for readers who were not joined when they were sent.
func TestErasedSenderIsRedactedForReadersNotJoinedAtTheEvent(t *testing.T) {
	msg := build(t, "m.room.message", nil, "@gone:hs", `{"body":"secret"}`)
	mem := func(u, m string) *event.Event {
		return build(t, event.TypeMember, sp(u), u, `{"membership":"`+m+`"}`)
	}
	joined := state{{Type: event.TypeMember, StateKey: "@bob:hs"}: mem("@bob:hs", event.Join)}
	invited := state{{Type: event.TypeMember, StateKey: "@bob:hs"}: mem("@bob:hs", event.Invite)}
	cases := []struct {
		name   string
		before state
		reader string
		want   bool
	}{
		{"joined at the event: whole", joined, "@bob:hs", false},
		{"invited at the event: redacted", invited, "@bob:hs", true},
		{"not in the room at the event: redacted", state{}, "@bob:hs", true},
		{"the sender themself: whole", state{}, "@gone:hs", false},
	}
	for _, c := range cases {
		if got := Erased(msg, c.before, c.reader); got != c.want {
			t.Errorf("%s: redact = %v, want %v", c.name, got, c.want)
		}
	}
}
