package eventauth

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Membership rules: rule 5 of v1–v5 and v12, rule 4 of v6–v11.

// "If there is no state_key property, or no membership property in content, reject."
func TestAuth_Member_MissingMembershipRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		deny(t, r, r.stateEvent(bob, event.TypeMember, bob, `{"displayname":"bob"}`), ruleNo(v, "member", "required"))
		deny(t, r, r.build(bob, event.TypeMember, nil, `{"membership":"join"}`), ruleNo(v, "member", "required"))
		// Keys match exactly: "Membership" is not "membership".
		deny(t, r, r.stateEvent(bob, event.TypeMember, bob, `{"Membership":"join"}`), ruleNo(v, "member", "required"))
	})
}

// "Otherwise, the membership is unknown. Reject."
func TestAuth_Member_UnknownMembershipRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		deny(t, r, r.member(bob, bob, "lurk", ""), ruleNo(v, "member", "unknown"))
		deny(t, r, r.stateEvent(bob, event.TypeMember, bob, `{"membership":5}`), ruleNo(v, "member", "unknown"))
	})
}

// Join rule 1: "If the only previous event is an m.room.create and the
// state_key is the creator, allow." The creator is content.creator before
// v11 and the create event's sender from v11.
func TestAuth_Member_Join_CreatorJoinsAfterCreate(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		allow(t, r, r.member(alice, alice, event.Join, ""))
		// Anyone else has no join rule to rely on yet.
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
	})
}

// In v1–v10 the creator is content.creator, which need not be the sender.
func TestAuth_Member_Join_CreatorIsContentCreatorBeforeV11(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.CreatorIsSender }, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		// Replace the create event by one naming bob as creator.
		b := &event.Builder{Type: event.TypeCreate, StateKey: sp(""), Sender: alice, RoomID: r.id,
			Content:    []byte(`{"creator":"` + bob + `","room_version":"` + string(v.ID) + `"}`),
			PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1, EventID: "$create2:a.test", Origin: "a.test"}
		create, err := b.Build(v, "a.test", testKey)
		if err != nil {
			t.Fatal(err)
		}
		r.create = create
		r.state = StateMap{}
		r.apply(create)
		allow(t, r, r.member(bob, bob, event.Join, ""))
		deny(t, r, r.member(alice, alice, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
	})
}

// Join rule 2: "If the sender does not match state_key, reject."
func TestAuth_Member_Join_ForSomeoneElseRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		deny(t, r, r.member(alice, bob, event.Join, ""), ruleNo(v, "member", "join", "sender"))
	})
}

// Join rule 3: "If the sender is banned, reject." Also the classic race: a
// join authorised against state that already holds the ban.
func TestAuth_Member_Join_BannedSenderRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		r.mustSend(r.member(alice, bob, event.Ban, ""))
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "banned"))
	})
}

// Join rule 4: "If the join_rule is invite (or knock, v7+) then allow if
// membership state is invite or join."
func TestAuth_Member_Join_InviteRule(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.setJoinRule("invite")
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
		r.mustSend(r.member(alice, bob, event.Invite, ""))
		allow(t, r, r.member(bob, bob, event.Join, ""))
		r.mustSend(r.member(bob, bob, event.Join, ""))
		// Joined users may re-join (e.g. to change their display name).
		allow(t, r, r.member(bob, bob, event.Join, `"displayname":"Bob"`))
	})
}

// Without m.room.join_rules the room behaves as invite-only (Synapse's
// default; the spec is silent).
func TestAuth_Member_Join_NoJoinRulesMeansInvite(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		r.mustSend(r.member(alice, alice, event.Join, ""))
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
		r.mustSend(r.member(alice, bob, event.Invite, ""))
		allow(t, r, r.member(bob, bob, event.Join, ""))
	})
}

// The knock join rule exists from v7: before, an invited user cannot join a
// room whose join rule is "knock", which means nothing there.
func TestAuth_Member_Join_KnockRuleNeedsV7(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.setJoinRule("knock")
		r.mustSend(r.member(alice, bob, event.Invite, ""))
		if v.Knocking {
			allow(t, r, r.member(bob, bob, event.Join, ""))
		} else {
			deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
		}
		deny(t, r, r.member(carol, carol, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
	})
}

// Join rule 6 (5 before v8): "If the join_rule is public, allow."
func TestAuth_Member_Join_PublicRule(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		allow(t, r, r.member(bob, bob, event.Join, ""))
		r.setJoinRule("private") // unknown rule: "Otherwise, reject."
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "member", "join", "otherwise"))
	})
}

// Join rule 5 (v8+): restricted rooms, and knock_restricted from v10.
// "If the join_authorised_via_users_server key in content is not a user with
// sufficient permission to invite other users or is not a joined member of
// the room, reject."
func TestAuth_Member_Join_Restricted(t *testing.T) {
	for _, rule := range []string{"restricted", "knock_restricted"} {
		t.Run(rule, func(t *testing.T) {
			versions(t, all, func(t *testing.T, v *roomversion.Version) {
				r := newRoom(t, v, `"`+bob+`":0`)
				r.join(bob, carol)
				r.setPowerLevels(defaultPowerLevels(v, `"`+bob+`":0,"`+carol+`":50`))
				// invite needs 10: carol can invite, bob cannot.
				r.setPowerLevels(defaultPowerLevels(v, `"`+carol+`":50`, `"invite":10`))
				r.setJoinRule(rule)
				joinVia := func(via string) *event.Event {
					e := r.member(dave, dave, event.Join, `"join_authorised_via_users_server":"`+via+`"`)
					return signedBy(t, e, serverOf(via))
				}
				if !v.AllowsJoinRule(rule) {
					// Before the rule existed the room cannot be joined.
					deny(t, r, joinVia(carol), ruleNo(v, "member", "join", "otherwise"))
					return
				}
				allow(t, r, joinVia(carol))
				deny(t, r, joinVia(bob), ruleNo(v, "member", "join", "restricted")+".2")     // cannot invite
				deny(t, r, joinVia(mallory), ruleNo(v, "member", "join", "restricted")+".2") // not joined
				deny(t, r, r.member(dave, dave, event.Join, ""), ruleNo(v, "member", "join", "restricted")+".2")
				// "If membership state is join or invite, allow."
				r.mustSend(r.member(carol, dave, event.Invite, ""))
				allow(t, r, r.member(dave, dave, event.Join, ""))
			})
		})
	}
}

// v8+ rule 4.2.1: "If the event is not validly signed by the homeserver of
// the user ID denoted by the key, reject." Signatures are verified by the
// federation layer; auth checks that the server's signature is present.
func TestAuth_Member_JoinAuthorisedVia_MustBeSignedByThatServer(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.RestrictedJoins }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(carol)
		r.setJoinRule("restricted")
		e := r.member(dave, dave, event.Join, `"join_authorised_via_users_server":"`+carol+`"`)
		deny(t, r, e, ruleNo(v, "member", "via")+".1")
		allow(t, r, signedBy(t, e, "c.test"))
		// A value that is not a user ID cannot have been signed for.
		deny(t, r, r.member(dave, dave, event.Join, `"join_authorised_via_users_server":"carol"`), ruleNo(v, "member", "via")+".1")
	})
}

// Before v8 join_authorised_via_users_server means nothing and a restricted
// join rule admits no one.
func TestAuth_Member_JoinAuthorisedVia_IgnoredBeforeV8(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.RestrictedJoins }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		allow(t, r, r.member(dave, dave, event.Join, `"join_authorised_via_users_server":"carol"`))
	})
}

func signedBy(t *testing.T, e *event.Event, server string) *event.Event {
	t.Helper()
	s, err := e.AddSignature(server, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Invite rules (5.4 in v12 numbering).
func TestAuth_Member_Invite(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		allow(t, r, r.member(bob, carol, event.Invite, ""))
		// "If the sender's current membership state is not join, reject."
		deny(t, r, r.member(mallory, carol, event.Invite, ""), ruleNo(v, "member", "invite", "sender"))
		// "If target user's current membership state is join or ban, reject."
		deny(t, r, r.member(alice, bob, event.Invite, ""), ruleNo(v, "member", "invite", "target"))
		r.mustSend(r.member(alice, dave, event.Ban, ""))
		deny(t, r, r.member(alice, dave, event.Invite, ""), ruleNo(v, "member", "invite", "target"))
		// "If the sender's power level is greater than or equal to the invite level, allow."
		r.setPowerLevels(defaultPowerLevels(v, "", `"invite":1`))
		deny(t, r, r.member(bob, carol, event.Invite, ""), ruleNo(v, "member", "invite", "otherwise"))
		allow(t, r, r.member(alice, carol, event.Invite, ""))
	})
}

// Leave rule 1: "If the sender matches state_key, allow if and only if that
// user's current membership state is invite, join, or knock (v7+)."
func TestAuth_Member_Leave_Self(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		deny(t, r, r.member(bob, bob, event.Leave, ""), ruleNo(v, "member", "leave", "self"))
		r.mustSend(r.member(alice, bob, event.Invite, ""))
		allow(t, r, r.member(bob, bob, event.Leave, "")) // reject the invite
		r.join(carol)
		allow(t, r, r.member(carol, carol, event.Leave, ""))
		r.mustSend(r.member(alice, carol, event.Ban, ""))
		deny(t, r, r.member(carol, carol, event.Leave, ""), ruleNo(v, "member", "leave", "self"))
	})
}

// Kicks (leave rules 2–5): the sender must be joined, reach the kick level
// and outrank the target.
func TestAuth_Member_Leave_Kick(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":50,"`+carol+`":50`)
		r.join(bob, carol, dave)
		allow(t, r, r.member(bob, dave, event.Leave, ""))
		// Kick by a lower power level.
		deny(t, r, r.member(dave, bob, event.Leave, ""), ruleNo(v, "member", "leave", "otherwise"))
		// Equal level is not enough.
		deny(t, r, r.member(bob, carol, event.Leave, ""), ruleNo(v, "member", "leave", "otherwise"))
		// Non-member sender.
		deny(t, r, r.member(mallory, dave, event.Leave, ""), ruleNo(v, "member", "leave", "sender"))
	})
}

// Unbanning needs both the kick and the ban level: leave rule 3 ("If the
// target user's current membership state is ban, and the sender's power
// level is less than the ban level, reject") plus rule 4.
func TestAuth_Member_Leave_UnbanNeedsKickAndBanLevels(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":60`)
		r.join(bob, carol)
		r.mustSend(r.member(alice, dave, event.Ban, ""))
		pl := func(top string) string { return defaultPowerLevels(v, `"`+bob+`":60`, top) }
		r.setPowerLevels(pl(`"ban":70,"kick":50`))
		deny(t, r, r.member(bob, dave, event.Leave, ""), ruleNo(v, "member", "leave", "banned"))
		r.setPowerLevels(pl(`"ban":50,"kick":70`))
		deny(t, r, r.member(bob, dave, event.Leave, ""), ruleNo(v, "member", "leave", "otherwise"))
		r.setPowerLevels(pl(`"ban":60,"kick":60`))
		allow(t, r, r.member(bob, dave, event.Leave, ""))
	})
}

// Ban rules: "If the sender's current membership state is not join, reject.
// If the sender's power level is greater than or equal to the ban level, and
// the target user's power level is less than the sender's power level, allow."
func TestAuth_Member_Ban(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":50,"`+carol+`":50`)
		r.join(bob, carol, dave)
		allow(t, r, r.member(bob, dave, event.Ban, ""))
		allow(t, r, r.member(bob, mallory, event.Ban, "")) // never joined
		deny(t, r, r.member(bob, carol, event.Ban, ""), ruleNo(v, "member", "ban", "otherwise"))
		deny(t, r, r.member(dave, bob, event.Ban, ""), ruleNo(v, "member", "ban", "otherwise"))
		deny(t, r, r.member(mallory, dave, event.Ban, ""), ruleNo(v, "member", "ban", "sender"))
		if v.PrivilegedCreators {
			allow(t, r, r.member(alice, bob, event.Ban, ""))
		}
	})
}

// v12: room creators have infinite power and cannot be kicked or banned,
// not even by another creator.
func TestAuth_Member_CreatorsCannotBeKickedOrBanned(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.PrivilegedCreators }, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, `"additional_creators":["`+carol+`"]`)
		r.mustSend(r.member(alice, alice, event.Join, ""))
		r.mustSend(r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, `"`+bob+`":100`)))
		r.setJoinRule("public")
		r.join(bob, carol)
		for _, m := range []string{event.Leave, event.Ban} {
			deny(t, r, r.member(bob, alice, m, ""), "")
			deny(t, r, r.member(bob, carol, m, ""), "")
			deny(t, r, r.member(carol, alice, m, ""), "")
		}
		allow(t, r, r.member(carol, bob, event.Ban, ""))
		allow(t, r, r.member(carol, carol, event.Leave, "")) // leaving is still allowed
	})
}

// Knock (v7+): "If the join_rule is anything other than knock (or
// knock_restricted, v10+), reject. If sender does not match state_key,
// reject. If the sender's current membership is not ban, invite, or join,
// allow." Before v7, knock is an unknown membership.
func TestAuth_Member_Knock(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.setJoinRule("knock")
		if !v.Knocking {
			deny(t, r, r.member(bob, bob, event.Knock, ""), ruleNo(v, "member", "unknown"))
			return
		}
		allow(t, r, r.member(bob, bob, event.Knock, ""))
		deny(t, r, r.member(alice, bob, event.Knock, ""), ruleNo(v, "member", "knock", "sender"))
		r.mustSend(r.member(alice, carol, event.Ban, ""))
		deny(t, r, r.member(carol, carol, event.Knock, ""), ruleNo(v, "member", "knock", "otherwise"))
		r.mustSend(r.member(alice, dave, event.Invite, ""))
		deny(t, r, r.member(dave, dave, event.Knock, ""), ruleNo(v, "member", "knock", "otherwise"))
		deny(t, r, r.member(alice, alice, event.Knock, ""), ruleNo(v, "member", "knock", "otherwise"))

		// A knock can be rescinded (leave rule 1, v7+).
		r.mustSend(r.member(bob, bob, event.Knock, ""))
		allow(t, r, r.member(bob, bob, event.Leave, ""))

		r.setJoinRule("knock_restricted")
		if v.KnockRestricted {
			allow(t, r, r.member(mallory, mallory, event.Knock, ""))
		} else {
			deny(t, r, r.member(mallory, mallory, event.Knock, ""), ruleNo(v, "member", "knock", "joinrule"))
		}
		r.setJoinRule("public")
		deny(t, r, r.member(mallory, mallory, event.Knock, ""), ruleNo(v, "member", "knock", "joinrule"))
	})
}
