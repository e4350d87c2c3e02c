package stateres

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Worked cases for state resolution v2 (fragments/v2-state-res.md) and v2.1
// (rooms/v12.md "State resolution"). Unless a test says otherwise, v2 and
// v2.1 agree, and each test runs on several room versions.

// With nothing conflicted, the unconflicted state map is the answer
// (Algorithm, step 5 with an empty full conflicted set).
func TestV2_NoConflictReturnsTheCommonState(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		base.join(bob)
		a, b := base.fork(), base.fork()
		r.sameState(r.resolve(a.state, b.state), base.state, "two identical states")
		r.sameState(r.resolve(base.state), base.state, "a single state")
		r.sameState(r.resolve(a.state, b.state, base.state), base.state, "three identical states")
	})
}

// Two users with the same power set the topic on two branches. Topics are
// not power events, so they are sorted by the mainline ordering: first by
// the position of their power_levels auth event on the mainline of the
// resolved power levels, then origin_server_ts, then event ID; the last one
// applied wins.
func TestV2_TopicWarBetweenEqualPowerUsers(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		t.Run("later timestamp wins", func(t *testing.T) {
			r, base := newRoom(t, v, "public", map[string]int{bob: 50, carol: 50})
			base.join(bob, carol)
			a, b := base.fork(), base.fork()
			tb := a.topic(opts{ts: 5000}, bob, "bob's")
			tc := b.topic(opts{ts: 4000}, carol, "carol's")
			got := r.resolve(a.state, b.state)
			// Same power_levels auth event (same mainline position): carol's
			// topic (ts 4000) is applied first, bob's (ts 5000) last.
			r.want(got, event.TypeTopic, "", tb.EventID(), "same mainline position, bob's has the later origin_server_ts")
			_ = tc
		})
		t.Run("same timestamp: greater event ID wins", func(t *testing.T) {
			r, base := newRoom(t, v, "public", map[string]int{bob: 50, carol: 50})
			base.join(bob, carol)
			a, b := base.fork(), base.fork()
			tb := a.topic(opts{ts: 5000}, bob, "bob's")
			tc := b.topic(opts{ts: 5000}, carol, "carol's")
			winner := tb
			if tc.EventID() > tb.EventID() {
				winner = tc
			}
			got := r.resolve(a.state, b.state)
			r.want(got, event.TypeTopic, "", winner.EventID(), "same position and timestamp: the greater event ID is applied last")
		})
		t.Run("newer power levels beat a later timestamp", func(t *testing.T) {
			r, base := newRoom(t, v, "public", map[string]int{bob: 50, carol: 50})
			base.join(bob, carol)
			a, b := base.fork(), base.fork()
			// On bob's branch alice reissues the power levels (PL2, citing
			// PL1); bob's topic then cites PL2.
			pl2 := a.powerLevels(alice, map[string]int{bob: 50, carol: 50, dave: 0})
			tb := a.topic(opts{ts: 2000}, bob, "bob's")
			b.topic(opts{ts: 9000}, carol, "carol's")
			got := r.resolve(a.state, b.state)
			r.want(got, event.TypePowerLevels, "", pl2.EventID(), "PL2 is allowed after PL1")
			// Mainline of PL2: [PL2, PL1, PL0]. Bob's topic is at position 0
			// and carol's (citing PL1) at 1; greater positions sort first, so
			// bob's topic is applied last despite its earlier timestamp.
			r.want(got, event.TypeTopic, "", tb.EventID(), "bob's topic is based on the newer mainline power levels")
		})
	})
}

// An admin bans eve on one branch while eve joins on the other. The ban is
// a power event (membership ban, sender is not the target), so it is
// authorised first; eve's join is then checked against a state in which she
// is banned and is refused. The join's later timestamp does not matter.
func TestV2_BanBeatsConcurrentJoin(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		a, b := base.fork(), base.fork()
		ban := a.send(opts{ts: 2000}, alice, event.TypeMember, eve, `{"membership":"ban"}`)
		b.send(opts{ts: 3000}, eve, event.TypeMember, eve, `{"membership":"join"}`)
		got := r.resolve(a.state, b.state)
		r.want(got, event.TypeMember, eve, ban.EventID(), "the ban is ordered before the join, which it then forbids")
		got = r.resolve(b.state, a.state)
		r.want(got, event.TypeMember, eve, ban.EventID(), "the order of the input states does not matter")
	})
}

// Alice demotes the moderator mo on one branch; on the other, mo kicks bob
// (earlier by the clock). Both are power events. The reverse topological
// power ordering puts alice's power levels first (100 > 50), so the kick is
// checked against power levels in which mo has 0 < kick 50 and is dropped:
// bob stays joined. The control case, where alice's change leaves mo's
// level alone, keeps the kick.
func TestV2_DemotionBeatsConcurrentKick(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		for _, tc := range []struct {
			name     string
			moAfter  int
			kickWins bool
		}{
			{"mo demoted: kick loses", 0, false},
			{"mo keeps 50: kick stands", 50, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, base := newRoom(t, v, "public", map[string]int{mo: 50})
				base.join(mo, bob)
				bobJoin := base.state[event.StateTuple{Type: event.TypeMember, StateKey: bob}]
				a, b := base.fork(), base.fork()
				pl2 := a.send(opts{ts: 3000}, alice, event.TypePowerLevels, "", plContent(v, map[string]int{mo: tc.moAfter, dave: 1}))
				kick := b.send(opts{ts: 2000}, mo, event.TypeMember, bob, `{"membership":"leave"}`)
				got := r.resolve(a.state, b.state)
				r.want(got, event.TypePowerLevels, "", pl2.EventID(), "alice's change is always allowed")
				want := bobJoin
				if tc.kickWins {
					want = kick.EventID()
				}
				r.want(got, event.TypeMember, bob, want, tc.name)
			})
		}
	})
}

// Alice switches the join rule from public to invite while eve joins on the
// other branch. The join rules event is a power event and is applied first;
// eve's join (not a power event) is then checked against the invite rule
// and refused, so eve has no membership at all. Control: if alice merely
// restates "public", eve's join stands.
func TestV2_JoinRuleFlipFlop(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		for _, rule := range []string{"invite", "public"} {
			t.Run("to "+rule, func(t *testing.T) {
				r, base := newRoom(t, v, "public", nil)
				a, b := base.fork(), base.fork()
				jr := a.send(opts{ts: 3000}, alice, event.TypeJoinRules, "", `{"join_rule":"`+rule+`"}`)
				join := b.send(opts{ts: 2000}, eve, event.TypeMember, eve, `{"membership":"join"}`)
				got := r.resolve(a.state, b.state)
				r.want(got, event.TypeJoinRules, "", jr.EventID(), "alice may always change the join rule")
				want := ""
				if rule == "public" {
					want = join.EventID()
				}
				r.want(got, event.TypeMember, eve, want, "eve's join is checked against the resolved join rule")
			})
		}
	})
}

// Bob (50) sets the topic on one branch while, on the other, alice takes
// his power away. The power levels are resolved first; bob's topic, checked
// against them, needs state_default 50 and is refused, so the old topic by
// alice remains. The later timestamp of bob's topic changes nothing.
func TestV2_StateFromUserWhosePowerWasRemoved(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", map[string]int{bob: 50})
		base.join(bob)
		old := base.topic(opts{}, alice, "alice's")
		a, b := base.fork(), base.fork()
		pl2 := a.send(opts{ts: 2000}, alice, event.TypePowerLevels, "", plContent(v, map[string]int{bob: 0}))
		b.topic(opts{ts: 3000}, bob, "bob's")
		got := r.resolve(a.state, b.state)
		r.want(got, event.TypePowerLevels, "", pl2.EventID(), "the demotion is allowed")
		r.want(got, event.TypeTopic, "", old.EventID(), "bob no longer has state_default")
	})
}

// A key missing from the state being built is looked up in the event's own
// auth events, but not in rejected ones (v2 "Iterative auth checks",
// "Rejected events").
//
// Alice switches the room to invite-only on one branch; on the other bob
// joins while it is still public and then sets the topic. The join rule is
// resolved first, so bob's join is refused and his membership is absent from
// the resolved state. His topic is then checked: his membership is not in
// the state, so the auth rules fall back to the topic's auth events, which
// cite his join. If that join is a normal event, bob counts as joined and
// the topic is accepted (a quirk of the spec that Synapse shares). If this
// server had rejected bob's join on receipt, it is not used, bob is not a
// member, and alice's older topic stays.
func TestV2_RejectedAuthEventsAreNotUsed(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		for _, rejected := range []bool{false, true} {
			name := "join accepted"
			if rejected {
				name = "join rejected on receipt"
			}
			t.Run(name, func(t *testing.T) {
				r, base := newRoom(t, v, "public", map[string]int{bob: 50})
				old := base.topic(opts{}, alice, "alice's")
				a, b := base.fork(), base.fork()
				jr := a.send(opts{ts: 2000}, alice, event.TypeJoinRules, "", `{"join_rule":"invite"}`)
				join := b.member(bob, bob, event.Join)
				tb := b.topic(opts{ts: 4000}, bob, "bob's")
				r.src.rejected[join.EventID()] = rejected
				got := r.resolve(a.state, b.state)
				r.want(got, event.TypeJoinRules, "", jr.EventID(), "")
				r.want(got, event.TypeMember, bob, "", "bob's join comes after the invite-only rule")
				want := tb.EventID()
				if rejected {
					want = old.EventID()
				}
				r.want(got, event.TypeTopic, "", want, name)
			})
		}
	})
}

// The power ordering compares sender power first: a power event from a
// higher-powered sender is authorised before an unrelated one from a lower
// sender, whatever the timestamps. Here mo (50) bans carol, and alice (100)
// later by the clock gives carol 60 on the other branch. Alice's change is
// applied first, so mo's ban of a user now above him is refused.
func TestV2_PowerOrderingPrefersHigherSender(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", map[string]int{mo: 50})
		base.join(mo, carol)
		carolJoin := base.state[event.StateTuple{Type: event.TypeMember, StateKey: carol}]
		a, b := base.fork(), base.fork()
		b.send(opts{ts: 1500}, mo, event.TypeMember, carol, `{"membership":"ban"}`)
		a.send(opts{ts: 9000}, alice, event.TypePowerLevels, "", plContent(v, map[string]int{mo: 50, carol: 60}))
		got := r.resolve(a.state, b.state)
		r.want(got, event.TypeMember, carol, carolJoin, "mo may not ban carol once she outranks him")
	})
}

// rooms/v12.md "Conflicted state subgraph": events on auth paths between
// conflicted events join the full conflicted set.
//
// PL1 gives bob 50; alice's PL2 raises him to 100; carol joins (citing PL2);
// bob's PL3 then gives carol 50, which needs level 100 for
// m.room.power_levels. The second state is one a server holds after a
// state reset: power levels back at PL1 while carol's join, which cites PL2,
// remains. Conflicted: PL1 vs PL3. PL2 is in both auth chains (through
// carol's join), so it is not in the auth difference.
//
// v2: the full conflicted set is {PL1, PL3}. PL1 (earlier) is applied, then
// PL3 is checked against PL1, where bob has 50 < 100: refused. The reset
// sticks: PL1.
// v2.1: PL2 lies on the path PL3 → PL2 → PL1 and joins the full conflicted
// set. Ordered PL1, PL2, PL3, each is allowed in turn: PL3.
func TestV21_ConflictedStateSubgraphRepairsAReset(t *testing.T) {
	forVersions(t, []roomversion.ID{"11", "12"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", map[string]int{bob: 50})
		pl1 := base.state[powerLevelsKey]
		base.join(bob)
		base.powerLevels(alice, map[string]int{bob: 100})
		base.join(carol)
		a := base.fork()
		pl3 := a.send(opts{}, bob, event.TypePowerLevels, "", plContent(v, map[string]int{bob: 100, carol: 50}))
		reset := base.fork()
		reset.state[powerLevelsKey] = pl1
		got := r.resolve(a.state, reset.state)
		if v.StateRes == roomversion.StateResV21 {
			r.want(got, event.TypePowerLevels, "", pl3.EventID(), "v2.1 replays PL2 from the conflicted state subgraph")
		} else {
			r.want(got, event.TypePowerLevels, "", pl1, "v2 judges PL3 against PL1")
		}
	})
}

// rooms/v12.md change 1: the first iterative auth checks start from an empty
// state map, not the unconflicted state map.
//
// An invite-only room; mo (50) and carol are members. Branch A: mo kicks
// carol (K), then alice bans mo (B). Branch C: carol updates her member
// event (C2, a join). A server that sees both merges them: B and K are
// power events, B (alice, 100) goes first and K is then refused, as mo is
// banned; C2 stands. Its state S2 = {mo: B, carol: C2}, in both algorithms.
//
// Now resolve A's state {mo: B, carol: K} with S2. Mo's ban is unconflicted
// and carol's membership is the only conflict.
// v2 starts from the unconflicted map, which holds the later ban: K is
// refused again and carol stays joined (C2).
// v2.1 starts from nothing: K is judged with the state its own auth events
// give (mo joined with 50), the state in which mo actually kicked, and is
// allowed. C2 then finds carol kicked in an invite-only room and is
// refused: carol is out (K).
func TestV21_EmptyStartJudgesPowerEventsByTheirOwnAuthEvents(t *testing.T) {
	forVersions(t, []roomversion.ID{"11", "12"}, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "invite", map[string]int{mo: 50})
		base.join(mo, carol)
		a, c := base.fork(), base.fork()
		kick := a.send(opts{}, mo, event.TypeMember, carol, `{"membership":"leave"}`)
		ban := a.send(opts{}, alice, event.TypeMember, mo, `{"membership":"ban"}`)
		c2 := c.send(opts{}, carol, event.TypeMember, carol, `{"membership":"join","displayname":"Carol"}`)

		merged := c.merge(a)
		r.want(merged.state, event.TypeMember, mo, ban.EventID(), "the merge keeps the ban")
		r.want(merged.state, event.TypeMember, carol, c2.EventID(), "the merge refuses the kick by the banned mo")

		got := r.resolve(a.state, merged.state)
		r.want(got, event.TypeMember, mo, ban.EventID(), "unconflicted")
		if v.StateRes == roomversion.StateResV21 {
			r.want(got, event.TypeMember, carol, kick.EventID(), "v2.1 authorises the kick by its own auth events")
		} else {
			r.want(got, event.TypeMember, carol, c2.EventID(), "v2 authorises the kick against the unconflicted ban")
		}
	})
}

// The auth difference takes part in the resolution, and one of its events
// can be the result although no input state holds it.
//
// Power levels may be changed at 75 here. Branch A: alice's PL2 raises bob
// to 80, then bob's PL3 demotes mo. Branch B: alice bans bob. Conflicted:
// power levels (PL3 vs PL1) and bob's membership (his join vs the ban); PL2
// is in A's auth chain only, so it is in the auth difference. Power order:
// PL1, PL2 (alice), bob's join (bob has 50 under PL1), then the ban (alice,
// 100) before PL3 (bob, 80 under PL2). PL3 then comes from a banned user
// and is refused: the power levels are PL2, which neither state held.
func TestV2_AuthDifferenceEventCanWin(t *testing.T) {
	forVersions(t, v2Family, func(t *testing.T, v *roomversion.Version) {
		r, base := newRoom(t, v, "public", nil)
		base.send(opts{}, alice, event.TypePowerLevels, "", plContentLevel(v, map[string]int{bob: 50, mo: 50}, 75))
		base.join(bob, mo)
		a, b := base.fork(), base.fork()
		pl2 := a.send(opts{}, alice, event.TypePowerLevels, "", plContentLevel(v, map[string]int{bob: 80, mo: 50}, 75))
		a.send(opts{}, bob, event.TypePowerLevels, "", plContentLevel(v, map[string]int{bob: 80, mo: 0}, 75))
		ban := b.send(opts{}, alice, event.TypeMember, bob, `{"membership":"ban"}`)
		got := r.resolve(a.state, b.state)
		r.want(got, event.TypeMember, bob, ban.EventID(), "alice outranks bob")
		r.want(got, event.TypePowerLevels, "", pl2.EventID(), "PL3 comes from a banned user; PL2 was applied before it")
	})
}
