package eventauth

import (
	"encoding/json"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Check applies the authorisation rules of ev.Version() to ev against state:
// the state before the event, the current state (soft-fail checks), or the
// event's own auth events as a state map. It covers every rule except those
// about the auth_events list itself (see CheckAuthEvents). Pure and
// deterministic; errors wrap ErrNotAllowed.
func Check(ev *event.Event, state StateLookup) error {
	v := ev.Version()
	if ev.Type() == event.TypeCreate {
		return checkCreate(ev, v)
	}

	create := state.Get(event.TypeCreate, "")
	if create == nil {
		// Rules 2.4 (v1–v11) and 2 (v12): every event but the create event
		// is authorised by the room's create event.
		if !v.RoomIDFromCreateEvent() {
			return reject(ruleNo(v, "authevents", "nocreate"), "no m.room.create event in the room state")
		}
		return reject(ruleNo(v, "roomid"), "no m.room.create event for room %s", ev.RoomID())
	}
	if create.RoomID() != ev.RoomID() {
		// v12 rule 2; for v1–v11 this is implied by rule 2.5 (auth events
		// share the room ID), and checking it here guards callers that pass
		// another room's state.
		if v.RoomIDFromCreateEvent() {
			return reject(ruleNo(v, "roomid"), "room ID %s is not that of the create event %s", ev.RoomID(), create.EventID())
		}
		return reject(ruleNo(v, "authevents", "roomid"), "create event belongs to room %s, not %s", create.RoomID(), ev.RoomID())
	}

	// Rule 4 (v12) / 3: m.federate.
	if fed, err := contentGet(create.Content(), "m.federate"); err == nil && string(fed) == "false" {
		if serverOf(ev.Sender()) != serverOf(create.Sender()) {
			return reject(ruleNo(v, "federate"), "room does not federate and %s is not on the creator's server", ev.Sender())
		}
	}

	// Rule 4 (v1–v5): m.room.aliases.
	if v.SpecialCaseAliasesAuth && ev.Type() == event.TypeAliases {
		if !ev.IsState() {
			return reject(ruleNo(v, "aliases")+".1", "m.room.aliases without state_key")
		}
		if *ev.StateKey() != serverOf(ev.Sender()) {
			return reject(ruleNo(v, "aliases")+".2", "state_key %q is not the sender's server", *ev.StateKey())
		}
		return nil
	}

	pl, err := PowerLevelsFrom(state, v)
	if err != nil {
		// Not a rule of the spec: the room's own power levels cannot be read
		// (they would have failed these rules themselves). Synapse fails
		// such checks too, as its int() raises.
		return reject(ruleNo(v, "required"), "the room's power levels are unusable: %v", err)
	}

	if ev.Type() == event.TypeMember {
		return checkMember(ev, v, state, create, pl)
	}

	// Rule 6 (v12) / 5: the sender must be joined.
	if membershipIn(state, ev.Sender()) != event.Join {
		return reject(ruleNo(v, "nonmember"), "sender %s is not joined to the room", ev.Sender())
	}
	senderLevel := pl.UserLevel(ev.Sender())

	if ev.Type() == event.TypeThirdPartyInvite {
		if senderLevel >= pl.Invite {
			return nil
		}
		return reject(ruleNo(v, "thirdpartyinvite"), "sender level %d is below the invite level %d", senderLevel, pl.Invite)
	}

	if need := pl.EventLevel(ev.Type(), ev.IsState()); need > senderLevel {
		return reject(ruleNo(v, "required"), "sending %s needs power level %d, sender has %d", ev.Type(), need, senderLevel)
	}

	if ev.IsState() && strings.HasPrefix(*ev.StateKey(), "@") && *ev.StateKey() != ev.Sender() {
		return reject(ruleNo(v, "statekey"), "state_key %q is another user's", *ev.StateKey())
	}

	if ev.Type() == event.TypePowerLevels {
		return checkPowerLevels(ev, v, state, create, pl, senderLevel)
	}

	// Rule 11 of v1–v2: redactions need the redact level or the same
	// event ID domain. Later versions leave this to "Handling redactions".
	if v.RedactionAuthRule && ev.Type() == event.TypeRedaction {
		if senderLevel >= pl.Redact {
			return nil
		}
		if d := eventIDServer(ev.Redacts()); d != "" && d == eventIDServer(ev.EventID()) {
			return nil
		}
		return reject(ruleNo(v, "redaction")+".3", "sender level %d is below the redact level %d and %s is from another server", senderLevel, pl.Redact, ev.Redacts())
	}
	return nil
}

// checkCreate is rule 1. It applies to every event of type m.room.create,
// whatever its state_key, as the spec and Synapse have it.
func checkCreate(ev *event.Event, v *roomversion.Version) error {
	if len(ev.PrevEventIDs()) > 0 {
		return reject(ruleNo(v, "create", "prev"), "m.room.create has prev_events")
	}
	if v.CreateEventHasRoomID {
		roomServer, ok := ids.RoomIDServer(ev.RoomID())
		if !ok || string(roomServer) != serverOf(ev.Sender()) {
			return reject(ruleNo(v, "create", "roomid"), "room ID %s is not on the sender's server", ev.RoomID())
		}
	} else if derived, ok := ids.RoomIDFromCreateEventID(ev.EventID()); !ok || ev.RoomID() != derived || !ev.StateKeyEquals("") {
		// The event package refuses a v12 create with a room_id field; any
		// other m.room.create-typed event still carries one.
		return reject(ruleNo(v, "create", "roomid"), "m.room.create has a room_id")
	}
	if raw, err := contentGet(ev.Content(), "room_version"); err == nil {
		var id string
		if json.Unmarshal(raw, &id) != nil || raw[0] != '"' || !roomversion.Known(roomversion.ID(id)) {
			return reject(ruleNo(v, "create", "version"), "unrecognised room_version %.40s", raw)
		}
	}
	if requiresCreatorProperty(v) && !contentHas(ev.Content(), "creator") {
		return reject(ruleNo(v, "create", "creator"), "content has no creator")
	}
	if v.PrivilegedCreators {
		if _, ok := additionalCreators(ev.Content()); !ok {
			return reject(ruleNo(v, "create", "additional"), "additional_creators is not an array of valid user IDs")
		}
	}
	return nil
}

// membershipIn returns the membership of user in state ("" when none).
func membershipIn(state StateLookup, user string) string {
	m := state.Get(event.TypeMember, user)
	if m == nil {
		return ""
	}
	return membershipOf(m.Content())
}

// membershipOf reads content.membership, matching the key exactly
// (event.Event.Membership decodes into a struct, which would also accept
// "Membership").
func membershipOf(content json.RawMessage) string {
	s, _ := contentString(content, "membership")
	return s
}

// serverOf is the server name of a user ID: everything after the first
// colon (appendices, "User Identifiers").
func serverOf(userID string) string {
	if _, server, ok := strings.Cut(userID, ":"); ok {
		return server
	}
	return ""
}

// eventIDServer is the domain of a v1/v2 event ID ("" for hash IDs).
func eventIDServer(eventID string) string {
	if !strings.HasPrefix(eventID, "$") {
		return ""
	}
	return serverOf(eventID)
}

// requiresCreatorProperty reports whether create events must carry
// content.creator (rule 1.4 of v1–v10). There is no switch of its own:
// v11 (MSC2175) removed the property and made the sender the creator in the
// same change, which is what CreatorIsSender records.
func requiresCreatorProperty(v *roomversion.Version) bool { return !v.CreatorIsSender }
