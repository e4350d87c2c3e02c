package eventauth

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// server-server-api.md "Auth events selection": create (depending on the
// room version), power levels, the sender's member event; for m.room.member
// the target's member event, join rules for join/invite/knock, the
// third_party_invite with the signed token, and the authorising user's
// member event for restricted joins.
func TestAuthEventsNeeded_SpecSelection(t *testing.T) {
	create := event.StateTuple{Type: event.TypeCreate}
	pl := event.StateTuple{Type: event.TypePowerLevels}
	jr := event.StateTuple{Type: event.TypeJoinRules}
	mem := func(u string) event.StateTuple { return event.StateTuple{Type: event.TypeMember, StateKey: u} }
	tpi := event.StateTuple{Type: event.TypeThirdPartyInvite, StateKey: "tok"}

	cases := []struct {
		name     string
		typ      string
		stateKey *string
		sender   string
		content  string
		want     func(v *roomversion.Version) []event.StateTuple
	}{
		{"message", "m.room.message", nil, bob, `{"body":"x"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob)} }},
		{"state event", event.TypeTopic, sp(""), bob, `{}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob)} }},
		{"create", event.TypeCreate, sp(""), alice, `{}`,
			func(*roomversion.Version) []event.StateTuple { return nil }},
		{"join", event.TypeMember, sp(bob), bob, `{"membership":"join"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), jr} }},
		{"invite", event.TypeMember, sp(carol), bob, `{"membership":"invite"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), mem(carol), jr} }},
		{"knock", event.TypeMember, sp(bob), bob, `{"membership":"knock"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), jr} }},
		{"leave", event.TypeMember, sp(bob), bob, `{"membership":"leave"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob)} }},
		{"kick", event.TypeMember, sp(carol), bob, `{"membership":"leave"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), mem(carol)} }},
		{"ban", event.TypeMember, sp(carol), bob, `{"membership":"ban"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), mem(carol)} }},
		{"third-party invite", event.TypeMember, sp(carol), bob,
			`{"membership":"invite","third_party_invite":{"signed":{"mxid":"` + carol + `","token":"tok"}}}`,
			func(*roomversion.Version) []event.StateTuple {
				return []event.StateTuple{pl, mem(bob), mem(carol), jr, tpi}
			}},
		{"third-party invite without token", event.TypeMember, sp(carol), bob,
			`{"membership":"invite","third_party_invite":{"signed":{}}}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(bob), mem(carol), jr} }},
		{"restricted join", event.TypeMember, sp(dave), dave,
			`{"join_authorised_via_users_server":"` + carol + `","membership":"join"}`,
			func(v *roomversion.Version) []event.StateTuple {
				if v.RestrictedJoins {
					return []event.StateTuple{pl, mem(dave), jr, mem(carol)}
				}
				return []event.StateTuple{pl, mem(dave), jr}
			}},
		{"authorising user on a leave is not selected", event.TypeMember, sp(dave), dave,
			`{"join_authorised_via_users_server":"` + carol + `","membership":"leave"}`,
			func(*roomversion.Version) []event.StateTuple { return []event.StateTuple{pl, mem(dave)} }},
	}
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		for _, c := range cases {
			got, err := AuthEventsNeeded(v, c.typ, c.stateKey, c.sender, json.RawMessage(c.content))
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			want := c.want(v)
			if v.CreateEventInAuthEvents && want != nil {
				want = append([]event.StateTuple{create}, want...)
			}
			if len(got) == 0 && len(want) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %v\nwant %v", c.name, got, want)
			}
		}
		if _, err := AuthEventsNeeded(v, event.TypeMember, nil, bob, json.RawMessage(`{"membership":"join"}`)); err == nil {
			t.Error("a member event without state_key has no selection")
		}
		if _, err := AuthEventsNeeded(v, "m.room.message", nil, bob, json.RawMessage(`[]`)); err == nil {
			t.Error("content that is not an object has no selection")
		}
	})
}

// SelectAuthEvents picks the current events for the tuples that exist.
func TestSelectAuthEvents(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		b := &event.Builder{Type: event.TypeMember, StateKey: sp(carol), Sender: bob, Content: json.RawMessage(`{"membership":"invite"}`)}
		got, err := SelectAuthEvents(v, b, r.state)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{}
		if v.CreateEventInAuthEvents {
			want = append(want, r.create.EventID())
		}
		want = append(want, r.state.Get(event.TypePowerLevels, "").EventID(), r.state.Get(event.TypeMember, bob).EventID(),
			r.state.Get(event.TypeJoinRules, "").EventID()) // carol has no member event yet
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// checkAuth runs CheckAuthEvents for e with auth events looked up in the
// room (by ID, among all events the room ever had in state) and rejected
// IDs.
func checkAuth(r *room, e *event.Event, known []*event.Event, rejected ...string) error {
	byID := map[string]*event.Event{}
	for _, s := range r.state {
		byID[s.EventID()] = s
	}
	for _, k := range known {
		byID[k.EventID()] = k
	}
	var auth []*event.Event
	for _, id := range e.AuthEventIDs() {
		if ae := byID[id]; ae != nil {
			auth = append(auth, ae)
		}
	}
	isRejected := func(id string) bool {
		for _, x := range rejected {
			if x == id {
				return true
			}
		}
		return false
	}
	return CheckAuthEvents(e, auth, isRejected, r.create)
}

func withAuth(ids ...string) func(*event.Builder) {
	return func(b *event.Builder) { b.AuthEvents = ids }
}

// Rules 3.1–3.5 (v12) / 2.1–2.5 (v1–v11): "Considering the event's auth_events".
func TestCheckAuthEvents(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		oldBob := r.state.Get(event.TypeMember, bob)
		r.mustSend(r.member(bob, bob, event.Join, `"displayname":"Bob"`))
		msg := r.message(bob, "m.room.message", `{}`)
		ids := msg.AuthEventIDs()
		createID := r.create.EventID()
		plID := r.state.Get(event.TypePowerLevels, "").EventID()
		bobID := r.state.Get(event.TypeMember, bob).EventID()
		base := []string{plID, bobID}
		if v.CreateEventInAuthEvents {
			base = append([]string{createID}, base...)
		}

		t.Run("valid", func(t *testing.T) {
			if err := checkAuth(r, msg, nil); err != nil {
				t.Fatal(err)
			}
			if len(ids) != len(base) {
				t.Fatalf("rig selected %v, want %v", ids, base)
			}
		})
		t.Run("duplicate type and state_key", func(t *testing.T) {
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(append(append([]string{}, base...), oldBob.EventID())...))
			denyErr(t, checkAuth(r, e, []*event.Event{oldBob}), ruleNo(v, "authevents", "duplicate"), e)
		})
		t.Run("same event cited twice", func(t *testing.T) {
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(append(append([]string{}, base...), plID)...))
			denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents", "duplicate"), e)
		})
		t.Run("extra entry the selection does not pick", func(t *testing.T) {
			hv := r.state.Get(event.TypeHistoryVisibility, "").EventID()
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(append(append([]string{}, base...), hv)...))
			denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents", "selection"), e)
			// A join rules event is picked for joins only.
			jr := r.state.Get(event.TypeJoinRules, "").EventID()
			e = r.build(bob, "m.room.message", nil, `{}`, withAuth(append(append([]string{}, base...), jr)...))
			denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents", "selection"), e)
		})
		t.Run("rejected entry", func(t *testing.T) {
			denyErr(t, checkAuth(r, msg, nil, plID), ruleNo(v, "authevents", "rejected"), msg)
		})
		t.Run("entry from another room", func(t *testing.T) {
			other := newBareRoom(t, v, `"x":1`)
			if v.CreateEventHasRoomID {
				other = &room{t: t, v: v, state: StateMap{}, id: "!other:a.test"}
			}
			otherPL := other.stateEvent(alice, event.TypePowerLevels, "", `{}`)
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(replace(base, plID, otherPL.EventID())...))
			denyErr(t, checkAuth(r, e, []*event.Event{otherPL}), ruleNo(v, "authevents", "roomid"), e)
		})
		t.Run("unavailable entry", func(t *testing.T) {
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(replace(base, plID, r.message(bob, "x", `{}`).EventID())...))
			denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents"), e)
		})
		t.Run("missing entries still authorise if the rules pass", func(t *testing.T) {
			// Without the power levels event, bob's message is judged by
			// the defaults (events_default 0) and passes.
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(replace(base, plID)...))
			if err := checkAuth(r, e, nil); err != nil {
				t.Error(err)
			}
		})
		t.Run("the auth events are the state Check sees", func(t *testing.T) {
			// Citing bob's old member event is fine: it says join too. Citing
			// none for bob means he is not a member.
			e := r.build(bob, "m.room.message", nil, `{}`, withAuth(replace(base, bobID)...))
			denyErr(t, checkAuth(r, e, nil), ruleNo(v, "nonmember"), e)
		})
		if v.CreateEventInAuthEvents {
			// v1–v11 rule 2.4: "If there is no m.room.create event among the
			// entries, reject."
			t.Run("missing create", func(t *testing.T) {
				e := r.build(bob, "m.room.message", nil, `{}`, withAuth(plID, bobID))
				denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents", "nocreate"), e)
			})
		} else {
			// v12 rule 3.2 note: "m.room.create MUST NOT be selected."
			t.Run("create cited", func(t *testing.T) {
				e := r.build(bob, "m.room.message", nil, `{}`, withAuth(createID, plID, bobID))
				denyErr(t, checkAuth(r, e, nil), ruleNo(v, "authevents", "selection"), e)
			})
			// v12 rule 2: the room ID must be that of an accepted create event.
			t.Run("create event rejected", func(t *testing.T) {
				denyErr(t, checkAuth(r, msg, nil, createID), ruleNo(v, "roomid"), msg)
			})
			t.Run("create event unknown", func(t *testing.T) {
				denyErr(t, CheckAuthEvents(msg, r.authEventsOf(msg), nil, nil), ruleNo(v, "roomid"), msg)
				other := newBareRoom(t, v, `"x":1`)
				denyErr(t, CheckAuthEvents(msg, r.authEventsOf(msg), nil, other.create), ruleNo(v, "roomid"), msg)
			})
		}
	})
}

// CheckAuthEvents runs the full rules: a ban racing a join, judged by the
// join's own auth events, passes if the join cites the pre-ban state, and
// fails against the current state (soft-fail) with Check.
func TestCheckAuthEvents_BanRacingJoin(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		join := r.member(bob, bob, event.Join, "") // built before the ban
		r.mustSend(r.member(alice, bob, event.Ban, ""))
		if err := checkAuth(r, join, nil); err != nil {
			t.Errorf("join against its own auth events: %v", err)
		}
		deny(t, r, join, ruleNo(v, "member", "join", "banned"))
		// Citing the ban makes the join fail on its own auth events.
		rejoin := r.member(bob, bob, event.Join, "")
		denyErr(t, checkAuth(r, rejoin, nil), ruleNo(v, "member", "join", "banned"), rejoin)
	})
}

func replace(list []string, old string, with ...string) []string {
	var out []string
	for _, x := range list {
		if x == old {
			out = append(out, with...)
		} else {
			out = append(out, x)
		}
	}
	return out
}
