package eventauth

import (
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// checkMember is the m.room.member rule: rule 5 in v1–v5 and v12, rule 4 in
// v6–v11.
func checkMember(ev *event.Event, v *roomversion.Version, state StateLookup, create *event.Event, pl *PowerLevels) error {
	content := ev.Content()
	if !ev.IsState() || !contentHas(content, "membership") {
		return reject(ruleNo(v, "member", "required"), "m.room.member needs a state_key and content.membership")
	}
	target := *ev.StateKey()
	membership := membershipOf(content) // "" (unknown) when not a string

	via, hasVia, err := authorisingUser(ev, v)
	if err != nil {
		return err
	}
	if hasVia {
		// v8+ rule 4.2.1: the authorising user's server must have signed the
		// event. The federation layer verifies every signature the event
		// needs cryptographically before auth (event.RequiredSigners lists
		// that server), so here it is enough that the signature is present.
		if len(ev.Signatures()[serverOf(via)]) == 0 {
			return reject(ruleNo(v, "member", "via")+".1", "not signed by %s, the server of join_authorised_via_users_server", serverOf(via))
		}
	}

	switch membership {
	case event.Join:
		return checkJoin(ev, v, state, create, pl, via)
	case event.Invite:
		return checkInvite(ev, v, state, pl, target)
	case event.Leave:
		return checkLeave(ev, v, state, pl, target)
	case event.Ban:
		return checkBan(ev, v, state, pl, target)
	case event.Knock:
		if v.Knocking {
			return checkKnock(ev, v, state, target)
		}
	}
	return reject(ruleNo(v, "member", "unknown"), "unknown membership %q", membership)
}

// authorisingUser reads content.join_authorised_via_users_server in room
// versions with restricted joins. A JSON null counts as absent (Synapse's
// content.get()); any other non-user-ID value is rejected, since no server
// could have been asked to sign for it.
func authorisingUser(ev *event.Event, v *roomversion.Version) (string, bool, error) {
	if !v.RestrictedJoins {
		return "", false, nil
	}
	raw, err := contentGet(ev.Content(), "join_authorised_via_users_server")
	if err != nil || string(raw) == "null" {
		return "", false, nil
	}
	s, _ := contentString(ev.Content(), "join_authorised_via_users_server")
	if _, err := ids.ParseUserID(s); err != nil {
		return "", false, reject(ruleNo(v, "member", "via")+".1", "join_authorised_via_users_server is not a user ID")
	}
	return s, true, nil
}

// joinRule is content.join_rule of the room's join rules. A room without
// m.room.join_rules (or with no join_rule string in it) is treated as
// "invite": the spec is silent; this is Synapse's default.
func joinRule(state StateLookup) string {
	jr := state.Get(event.TypeJoinRules, "")
	if jr == nil {
		return "invite"
	}
	if s, ok := contentString(jr.Content(), "join_rule"); ok {
		return s
	}
	return "invite"
}

func checkJoin(ev *event.Event, v *roomversion.Version, state StateLookup, create *event.Event, pl *PowerLevels, via string) error {
	target := *ev.StateKey()
	// 1: the creator's own join straight after the create event.
	if prev := ev.PrevEventIDs(); len(prev) == 1 && prev[0] == create.EventID() {
		if c := legacyCreator(create, v); c != "" && c == target {
			return nil
		}
	}
	if ev.Sender() != target {
		return reject(ruleNo(v, "member", "join", "sender"), "sender %s cannot join for %s", ev.Sender(), target)
	}
	current := membershipIn(state, target)
	if current == event.Ban {
		return reject(ruleNo(v, "member", "join", "banned"), "sender is banned")
	}
	rule := joinRule(state)
	if !v.AllowsJoinRule(rule) {
		// "knock" before v7, "restricted" before v8 and "knock_restricted"
		// before v10 mean nothing; such rooms cannot be joined.
		rule = ""
	}
	switch rule {
	case "invite", "knock":
		if current == event.Invite || current == event.Join {
			return nil
		}
	case "restricted", "knock_restricted":
		if current == event.Invite || current == event.Join {
			return nil
		}
		if via == "" {
			return reject(ruleNo(v, "member", "join", "restricted")+".2", "join to a %s room needs join_authorised_via_users_server", rule)
		}
		if membershipIn(state, via) != event.Join {
			return reject(ruleNo(v, "member", "join", "restricted")+".2", "authorising user %s is not joined", via)
		}
		if l := pl.UserLevel(via); l < pl.Invite {
			return reject(ruleNo(v, "member", "join", "restricted")+".2", "authorising user %s has level %d, below the invite level %d", via, l, pl.Invite)
		}
		return nil
	case "public":
		return nil
	}
	return reject(ruleNo(v, "member", "join", "otherwise"), "join rule %q does not let %s (membership %q) join", joinRule(state), target, current)
}

func checkInvite(ev *event.Event, v *roomversion.Version, state StateLookup, pl *PowerLevels, target string) error {
	current := membershipIn(state, target)
	if contentHas(ev.Content(), "third_party_invite") {
		return checkThirdPartyInvite(ev, v, state, target, current)
	}
	if membershipIn(state, ev.Sender()) != event.Join {
		return reject(ruleNo(v, "member", "invite", "sender"), "sender %s is not joined", ev.Sender())
	}
	if current == event.Join || current == event.Ban {
		return reject(ruleNo(v, "member", "invite", "target"), "%s is already %sed", target, current)
	}
	if l := pl.UserLevel(ev.Sender()); l < pl.Invite {
		return reject(ruleNo(v, "member", "invite", "otherwise"), "sender level %d is below the invite level %d", l, pl.Invite)
	}
	return nil
}

func checkLeave(ev *event.Event, v *roomversion.Version, state StateLookup, pl *PowerLevels, target string) error {
	current := membershipIn(state, target)
	if ev.Sender() == target {
		// Leaving, rejecting an invite, or (v7+) rescinding a knock.
		if current == event.Invite || current == event.Join || (v.Knocking && current == event.Knock) {
			return nil
		}
		return reject(ruleNo(v, "member", "leave", "self"), "cannot leave with membership %q", current)
	}
	if membershipIn(state, ev.Sender()) != event.Join {
		return reject(ruleNo(v, "member", "leave", "sender"), "sender %s is not joined", ev.Sender())
	}
	senderLevel := pl.UserLevel(ev.Sender())
	if current == event.Ban && senderLevel < pl.Ban {
		return reject(ruleNo(v, "member", "leave", "banned"), "unbanning needs the ban level %d, sender has %d", pl.Ban, senderLevel)
	}
	if senderLevel >= pl.Kick && pl.UserLevel(target) < senderLevel {
		return nil
	}
	return reject(ruleNo(v, "member", "leave", "otherwise"), "sender level %d needs to reach the kick level %d and exceed the target's %d", senderLevel, pl.Kick, pl.UserLevel(target))
}

func checkBan(ev *event.Event, v *roomversion.Version, state StateLookup, pl *PowerLevels, target string) error {
	if membershipIn(state, ev.Sender()) != event.Join {
		return reject(ruleNo(v, "member", "ban", "sender"), "sender %s is not joined", ev.Sender())
	}
	senderLevel := pl.UserLevel(ev.Sender())
	if senderLevel >= pl.Ban && pl.UserLevel(target) < senderLevel {
		return nil
	}
	return reject(ruleNo(v, "member", "ban", "otherwise"), "sender level %d needs to reach the ban level %d and exceed the target's %d", senderLevel, pl.Ban, pl.UserLevel(target))
}

func checkKnock(ev *event.Event, v *roomversion.Version, state StateLookup, target string) error {
	rule := joinRule(state)
	if !(rule == "knock" || (rule == "knock_restricted" && v.KnockRestricted)) {
		return reject(ruleNo(v, "member", "knock", "joinrule"), "join rule %q does not allow knocking", rule)
	}
	if ev.Sender() != target {
		return reject(ruleNo(v, "member", "knock", "sender"), "sender %s cannot knock for %s", ev.Sender(), target)
	}
	switch current := membershipIn(state, target); current {
	case event.Ban, event.Invite, event.Join:
		return reject(ruleNo(v, "member", "knock", "otherwise"), "cannot knock with membership %q", current)
	}
	return nil
}
