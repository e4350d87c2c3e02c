package eventauth

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Rule 4 of v1–v5: "If type is m.room.aliases: If event has no state_key,
// reject. If sender's domain doesn't match state_key, reject. Otherwise,
// allow." It comes before the membership rule, so servers publish their
// aliases without being in the room. From v6 aliases are ordinary state.
func TestAuth_Aliases_V1ToV5SpecialCase(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.SpecialCaseAliasesAuth }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		allow(t, r, r.stateEvent(mallory, event.TypeAliases, "m.test", `{"aliases":["#x:m.test"]}`))
		deny(t, r, r.stateEvent(mallory, event.TypeAliases, "a.test", `{"aliases":["#x:a.test"]}`), "4.2")
		deny(t, r, r.message(mallory, event.TypeAliases, `{"aliases":[]}`), "4.1")
	})
}

func TestAuth_Aliases_OrdinaryStateFromV6(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.SpecialCaseAliasesAuth }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		deny(t, r, r.stateEvent(mallory, event.TypeAliases, "m.test", `{"aliases":[]}`), ruleNo(v, "nonmember"))
		deny(t, r, r.stateEvent(bob, event.TypeAliases, "b.test", `{"aliases":[]}`), ruleNo(v, "required"))
		allow(t, r, r.stateEvent(alice, event.TypeAliases, "b.test", `{"aliases":[]}`))
	})
}

// Rule 6 (v12) / 5 / 6 (v1–v5): "If the sender's current membership state
// is not join, reject."
func TestAuth_NonMember_EventsRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		deny(t, r, r.message(bob, "m.room.message", `{"body":"hi"}`), ruleNo(v, "nonmember"))
		// A state event from a non-member, even one nobody guards.
		deny(t, r, r.stateEvent(bob, "org.example.x", "", `{}`), ruleNo(v, "nonmember"))
		r.mustSend(r.member(alice, bob, event.Invite, ""))
		deny(t, r, r.message(bob, "m.room.message", `{}`), ruleNo(v, "nonmember"))
		r.mustSend(r.member(bob, bob, event.Join, ""))
		allow(t, r, r.message(bob, "m.room.message", `{}`))
		r.mustSend(r.member(bob, bob, event.Leave, ""))
		deny(t, r, r.message(bob, "m.room.message", `{}`), ruleNo(v, "nonmember"))
	})
}

// Rule 7 (v12) / 6 / 7 (v1–v5): "If type is m.room.third_party_invite:
// Allow if and only if sender's current power level is greater than or
// equal to the invite level."
func TestAuth_ThirdPartyInviteEvent_NeedsInviteLevel(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		r.setPowerLevels(defaultPowerLevels(v, "", `"invite":10`, `"events":{"m.room.third_party_invite":0}`))
		deny(t, r, r.stateEvent(bob, event.TypeThirdPartyInvite, "tok", `{}`), ruleNo(v, "thirdpartyinvite"))
		allow(t, r, r.stateEvent(alice, event.TypeThirdPartyInvite, "tok", `{}`))
		deny(t, r, r.stateEvent(mallory, event.TypeThirdPartyInvite, "tok", `{}`), ruleNo(v, "nonmember"))
		// The event's own required level does not apply ("if and only if").
		r.setPowerLevels(defaultPowerLevels(v, "", `"invite":0`, `"events":{"m.room.third_party_invite":100}`))
		allow(t, r, r.stateEvent(bob, event.TypeThirdPartyInvite, "tok", `{}`))
	})
}

// Rule 8 (v12) / 7 / 8 (v1–v5): "If the event type's required power level
// is greater than the sender's power level, reject."
func TestAuth_RequiredPowerLevel(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":10`)
		r.join(bob, carol)
		// events overrides, state_default for other state, events_default for messages.
		deny(t, r, r.stateEvent(bob, event.TypeName, "", `{"name":"x"}`), ruleNo(v, "required"))
		allow(t, r, r.stateEvent(alice, event.TypeName, "", `{"name":"x"}`))
		deny(t, r, r.stateEvent(bob, event.TypeTopic, "", `{"topic":"x"}`), ruleNo(v, "required"))
		allow(t, r, r.message(carol, "m.room.message", `{}`))

		r.setPowerLevels(defaultPowerLevels(v, `"`+bob+`":10`, `"events_default":10`, `"state_default":10`,
			`"events":{"m.reaction":0,"m.room.power_levels":100}`))
		deny(t, r, r.message(carol, "m.room.message", `{}`), ruleNo(v, "required"))
		allow(t, r, r.message(bob, "m.room.message", `{}`))
		allow(t, r, r.message(carol, "m.reaction", `{}`))
		allow(t, r, r.stateEvent(bob, event.TypeTopic, "", `{"topic":"x"}`))
		deny(t, r, r.stateEvent(carol, event.TypeTopic, "", `{"topic":"x"}`), ruleNo(v, "required"))
		// A state event and a message event of the same type share events[type].
		allow(t, r, r.stateEvent(carol, "m.reaction", "", `{}`))
	})
}

// Without a power_levels event: the creator has 100 (v1–v11) or infinite
// power (v12), everyone else 0; state events need 50, messages 0.
func TestAuth_RequiredPowerLevel_NoPowerLevelsEvent(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		r.mustSend(r.member(alice, alice, event.Join, ""))
		r.mustSend(r.stateEvent(alice, event.TypeJoinRules, "", `{"join_rule":"public"}`))
		r.join(bob)
		allow(t, r, r.message(bob, "m.room.message", `{}`))
		deny(t, r, r.stateEvent(bob, event.TypeTopic, "", `{}`), ruleNo(v, "required"))
		allow(t, r, r.stateEvent(alice, event.TypeTopic, "", `{}`))
	})
}

// Rule 9 (v12) / 8 / 9 (v1–v5): "If the event has a state_key that starts
// with an @ and does not match the sender, reject."
func TestAuth_StateKey_OtherUsersKeyRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		deny(t, r, r.stateEvent(alice, "org.example.profile", bob, `{}`), ruleNo(v, "statekey"))
		allow(t, r, r.stateEvent(alice, "org.example.profile", alice, `{}`))
		allow(t, r, r.stateEvent(alice, "org.example.profile", "bob", `{}`))
	})
}

// Rule 11 of v1–v2: "If type is m.room.redaction: If the sender's power
// level is greater than or equal to the redact level, allow. If the domain
// of the event_id of the event being redacted is the same as the domain of
// the event_id of the m.room.redaction, allow. Otherwise, reject." From v3
// redactions are ordinary events at auth time.
func TestAuth_Redaction_V1V2Rule11(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		redact := func(sender, target string) *event.Event {
			return r.build(sender, event.TypeRedaction, nil, `{}`, func(b *event.Builder) { b.Redacts = target })
		}
		foreign := "$msg:a.test"
		own := "$msg:b.test"
		if v.EventIDsAreHashes() {
			foreign = r.message(alice, "m.room.message", `{}`).EventID()
			own = foreign
		}
		allow(t, r, redact(alice, foreign))
		allow(t, r, redact(bob, own))
		if v.RedactionAuthRule {
			deny(t, r, redact(bob, foreign), "11.3")
		} else {
			allow(t, r, redact(bob, foreign))
		}
		// In every version the redaction's own required level applies.
		r.setPowerLevels(defaultPowerLevels(v, "", `"events":{"m.room.power_levels":100,"m.room.redaction":60}`))
		deny(t, r, redact(bob, own), ruleNo(v, "required"))
	})
}
