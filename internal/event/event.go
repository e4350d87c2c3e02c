// Package event holds Matrix PDUs (room events) as the federation sees them,
// for every room version: parsing untrusted JSON into a checked Event, event
// IDs, content and reference hashes, redaction, building and signing new
// events, and verifying received ones. It is pure: no clocks, no I/O.
//
// Spec: server-server-api.md "PDUs", "Signing Events"; rooms/v*.md "Event
// format", "Event IDs", "Redactions"; client-server-api "Size limits".
package event

import (
	"encoding/json"
	"unique"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Event is an immutable, validated PDU. Its JSON is canonical and contains
// neither `unsigned` (kept apart, see Unsigned) nor, in room v3+, `event_id`
// (which is derived from the content).
type Event struct {
	version *roomversion.Version
	json    []byte // canonical PDU, without unsigned (and event_id in v3+)

	id string
	// The room ID, sender, type and origin are interned (see intern): a
	// server holds tens of thousands of events, which repeat a few of
	// each, so each distinct string is held once. (Event IDs are not: each
	// is held by one event and a few references, fewer than an entry of
	// the intern table costs.)
	roomID unique.Handle[string]
	sender unique.Handle[string]
	typ    unique.Handle[string]
	origin unique.Handle[string]
	// stateKey's text is interned too; it is held as a string so that
	// StateKey can point at it.
	stateKey   string
	isState    bool
	content    json.RawMessage
	prevEvents []string
	authEvents []string
	depth      int64
	ts         int64
	redacts    string
	unsigned   json.RawMessage
}

// Version is the room version the event was parsed for.
func (e *Event) Version() *roomversion.Version { return e.version }

// EventID is the event's ID: sender-assigned in v1/v2, the reference hash in v3+.
func (e *Event) EventID() string { return e.id }

// RoomID is the room the event belongs to. For a v12 create event, which has
// no room_id field, it is the ID derived from the event itself.
func (e *Event) RoomID() string { return e.roomID.Value() }

// Sender is the user ID of the sender.
func (e *Event) Sender() string { return e.sender.Value() }

// Type is the event type.
func (e *Event) Type() string { return e.typ.Value() }

// StateKey is nil for non-state events. It points into the event, which is
// immutable: callers must not write through it.
func (e *Event) StateKey() *string {
	if !e.isState {
		return nil
	}
	return &e.stateKey
}

// IsState reports whether the event has a state_key.
func (e *Event) IsState() bool { return e.isState }

// StateKeyEquals reports whether the event is a state event with this key.
func (e *Event) StateKeyEquals(s string) bool { return e.isState && e.stateKey == s }

// Content is the raw canonical JSON of the content object: a slice of the
// event's JSON (see JSON), so callers must not modify it.
func (e *Event) Content() json.RawMessage { return e.content }

// PrevEventIDs are the IDs of the event's DAG parents.
func (e *Event) PrevEventIDs() []string { return e.prevEvents }

// AuthEventIDs are the IDs of the events that authorise this one.
func (e *Event) AuthEventIDs() []string { return e.authEvents }

// Depth is the event's depth in the DAG.
func (e *Event) Depth() int64 { return e.depth }

// OriginServerTS is the sender's clock at creation, in milliseconds.
func (e *Event) OriginServerTS() int64 { return e.ts }

// Redacts is the event ID a redaction targets ("" if none or not a
// redaction): the top-level field before v11, content.redacts from v11.
func (e *Event) Redacts() string { return e.redacts }

// Origin is the legacy top-level origin field (v1–v10; may be empty).
func (e *Event) Origin() string { return e.origin.Value() }

// ContentHash is the claimed hashes.sha256 in unpadded base64. It is read
// from the JSON when asked (only to check a received event), rather than
// held by every event in memory.
func (e *Event) ContentHash() string {
	h, _ := stringAt(e.json, "hashes", "sha256")
	return h
}

// Unsigned is the unsigned object received with the event (may be nil).
func (e *Event) Unsigned() json.RawMessage { return e.unsigned }

// JSON is the canonical PDU without unsigned. In v3+ it has no event_id.
// Callers must not modify the returned slice.
func (e *Event) JSON() []byte { return e.json }

// StateTuple identifies a piece of room state.
type StateTuple struct {
	Type     string
	StateKey string
}

// Tuple returns the (type, state_key) of a state event; ok is false for
// non-state events.
func (e *Event) Tuple() (t StateTuple, ok bool) {
	if !e.isState {
		return StateTuple{}, false
	}
	return StateTuple{e.typ.Value(), e.stateKey}, true
}

// Membership returns content.membership of an m.room.member event ("" when
// absent or not a string).
func (e *Event) Membership() string {
	if e.Type() != TypeMember {
		return ""
	}
	m, _ := stringAt(e.content, "membership")
	return m
}

// Well-known event types that the protocol core treats specially.
const (
	TypeCreate            = "m.room.create"
	TypeMember            = "m.room.member"
	TypePowerLevels       = "m.room.power_levels"
	TypeJoinRules         = "m.room.join_rules"
	TypeThirdPartyInvite  = "m.room.third_party_invite"
	TypeRedaction         = "m.room.redaction"
	TypeHistoryVisibility = "m.room.history_visibility"
	TypeAliases           = "m.room.aliases"
	TypeCanonicalAlias    = "m.room.canonical_alias"
	TypeName              = "m.room.name"
	TypeTopic             = "m.room.topic"
	TypeAvatar            = "m.room.avatar"
	TypeEncryption        = "m.room.encryption"
	TypeGuestAccess       = "m.room.guest_access"
	TypeServerACL         = "m.room.server_acl"
	TypeTombstone         = "m.room.tombstone"
	TypeMessage           = "m.room.message"
	TypeSpaceChild        = "m.space.child"
	TypeSpaceParent       = "m.space.parent"
)

// Membership values.
const (
	Join   = "join"
	Invite = "invite"
	Leave  = "leave"
	Ban    = "ban"
	Knock  = "knock"
)
