package stateres

import (
	"bytes"
	"crypto/sha1"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Worked cases for room version 1 (rooms/v1.md "State resolution").

var v1 = roomversion.MustGet("1")

// "For all other conflicts, just pick the event with the highest depth …
// that passes authentication in R": depth decides, not the clock.
func TestV1_HigherDepthWinsForOrdinaryState(t *testing.T) {
	r, base := newRoom(t, v1, "public", nil)
	a, b := base.fork(), base.fork()
	a.topic(opts{ts: 9000}, alice, "A (one step, late clock)")
	b.send(opts{ts: 1500}, alice, event.TypeName, "", `{"name":"B"}`)
	deep := b.topic(opts{ts: 2000}, alice, "B (two steps, early clock)")
	got := r.resolve(a.state, b.state)
	r.want(got, event.TypeTopic, "", deep.EventID(), "the deeper topic wins")
}

// "… and lowest sha1(event_id)": at equal depth the smaller hash of the
// event ID wins.
func TestV1_EqualDepthLowestSha1Wins(t *testing.T) {
	r, base := newRoom(t, v1, "public", nil)
	a, b := base.fork(), base.fork()
	ta := a.topic(opts{id: "topicA"}, alice, "A")
	tb := b.topic(opts{id: "topicB"}, alice, "B")
	want := ta
	ha, hb := sha1.Sum([]byte(ta.EventID())), sha1.Sum([]byte(tb.EventID()))
	if bytes.Compare(hb[:], ha[:]) < 0 {
		want = tb
	}
	got := r.resolve(a.state, b.state)
	r.want(got, event.TypeTopic, "", want.EventID(), "same depth: lowest sha1(event_id)")
}

// Power levels are resolved first, and member events are then checked
// against the resolved power levels: a kick by a moderator whom alice
// demoted on the other branch loses. Members are sorted by ascending depth:
// bob's join is taken first, then the kick is checked in R, where mo now has
// 0 < kick 50, and the pass stops. Control: when mo keeps 50, the kick is
// allowed and wins.
func TestV1_PowerLevelsAreResolvedBeforeMembers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		moAfter  int
		kickWins bool
	}{
		{"mo demoted: kick loses", 0, false},
		{"mo keeps 50: kick stands", 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, base := newRoom(t, v1, "public", map[string]int{mo: 50})
			base.join(mo, bob)
			bobJoin := base.state[event.StateTuple{Type: event.TypeMember, StateKey: bob}]
			a, b := base.fork(), base.fork()
			pl2 := a.powerLevels(alice, map[string]int{mo: tc.moAfter, dave: 1})
			kick := b.member(mo, bob, event.Leave)
			got := r.resolve(a.state, b.state)
			// PL list by ascending depth: PL1 (lower), PL2; PL2 is allowed.
			r.want(got, event.TypePowerLevels, "", pl2.EventID(), "the newer power levels")
			want := bobJoin
			if tc.kickWins {
				want = kick.EventID()
			}
			r.want(got, event.TypeMember, bob, want, tc.name)
		})
	}
}

// An ordinary event that fails authentication in R gives way to the next one
// by depth: bob's deeper topic, sent after alice demoted him on the other
// branch, loses to alice's older topic.
func TestV1_UnauthorisedOrdinaryEventGivesWay(t *testing.T) {
	r, base := newRoom(t, v1, "public", map[string]int{bob: 50})
	base.join(bob)
	old := base.topic(opts{}, alice, "alice's")
	a, b := base.fork(), base.fork()
	a.powerLevels(alice, map[string]int{bob: 0})
	b.send(opts{}, bob, "x.filler", "", `{}`)
	b.topic(opts{}, bob, "bob's, deeper")
	got := r.resolve(a.state, b.state)
	r.want(got, event.TypeTopic, "", old.EventID(), "bob's topic fails in R, which holds his demotion")
}

// The power levels pass takes the events in order and stops at the first
// one the auth rules refuse, even if a later one would be allowed. Here
// power levels can be changed at 75, bob has 80. Three branches: alice
// demotes bob (PL2, depth d+1); bob changes dave's level (PL3, d+2); alice
// gives carol 5 (PL4, d+3). PL2 is taken, PL3 from the demoted bob is
// refused, and the pass ends: PL4 is never considered.
func TestV1_PowerLevelPassStopsAtFirstRefusal(t *testing.T) {
	r, base := newRoom(t, v1, "public", nil)
	base.send(opts{}, alice, event.TypePowerLevels, "", plContentLevel(v1, map[string]int{bob: 80}, 75))
	base.join(bob)
	a, b, c := base.fork(), base.fork(), base.fork()
	pl2 := a.send(opts{}, alice, event.TypePowerLevels, "", plContentLevel(v1, map[string]int{bob: 0}, 75))
	b.send(opts{}, bob, "x.filler", "b", `{}`)
	b.send(opts{}, bob, event.TypePowerLevels, "", plContentLevel(v1, map[string]int{bob: 80, dave: 10}, 75))
	c.send(opts{}, alice, "x.filler", "c1", `{}`)
	c.send(opts{}, alice, "x.filler", "c2", `{}`)
	c.send(opts{}, alice, event.TypePowerLevels, "", plContentLevel(v1, map[string]int{bob: 80, carol: 5}, 75))
	got := r.resolve(a.state, b.state, c.state)
	r.want(got, event.TypePowerLevels, "", pl2.EventID(), "the pass stops at bob's refused PL3")
}

// rooms/v1.md: a conflict is "different event_ids for the same key", so a
// key that only some states have is not conflicted and is kept unchecked.
// v2 instead treats it as conflicted ("present in every state with the same
// value") and checks it. Alice demotes bob on one branch; on the other bob
// sets the first topic of the room. v1 keeps bob's topic; v2 refuses it.
func TestV1_KeyInSomeStatesOnlyIsUnconflicted(t *testing.T) {
	forVersions(t, []roomversion.ID{"1", "2"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", map[string]int{bob: 50})
		base.join(bob)
		a, b := base.fork(), base.fork()
		a.powerLevels(alice, map[string]int{bob: 0})
		tb := b.topic(opts{}, bob, "bob's")
		got := r.resolve(a.state, b.state)
		if v.StateRes == roomversion.StateResV1 {
			r.want(got, event.TypeTopic, "", tb.EventID(), "v1: not a conflict")
		} else {
			r.want(got, event.TypeTopic, "", "", "v2: a conflict, and bob may no longer set the topic")
		}
	})
}

// Join rules are resolved after power levels and before members, like power
// levels: the later (deeper) invite-only rule is allowed. Eve's join is only
// in one state, so in v1 it is unconflicted and stays, even though the room
// ends up invite-only.
func TestV1_JoinRulesPass(t *testing.T) {
	r, base := newRoom(t, v1, "public", nil)
	a, b := base.fork(), base.fork()
	jr := a.joinRules(alice, "invite")
	join := b.member(eve, eve, event.Join)
	got := r.resolve(a.state, b.state)
	r.want(got, event.TypeJoinRules, "", jr.EventID(), "invite-only is deeper than public and allowed")
	r.want(got, event.TypeMember, eve, join.EventID(), "eve's join is unconflicted in v1")
}
