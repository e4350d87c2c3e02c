// Package roomversion is the table of Matrix room versions and the rule
// switches each one turns on. Code that behaves differently per room version
// asks this table for the switch it cares about; it never compares version
// strings itself. Spec: content/rooms/_index.md and content/rooms/v1.md … v12.md.
package roomversion

import "sort"

// EventFormat is the shape of a PDU and how its event ID is obtained.
type EventFormat int

const (
	// EventFormatV1 (rooms v1, v2): the sender assigns `event_id` ("$opaque:domain"),
	// which is part of the PDU; prev_events and auth_events are [id, {hashes}] pairs.
	EventFormatV1 EventFormat = iota + 1
	// EventFormatV3 (room v3): the event ID is "$" + the standard unpadded
	// base64 reference hash; prev_events/auth_events are plain ID lists.
	EventFormatV3
	// EventFormatV4 (rooms v4+): as V3 with URL-safe unpadded base64 IDs.
	EventFormatV4
)

// RoomIDFormat says how room IDs are formed.
type RoomIDFormat int

const (
	// RoomIDServerAssigned: "!opaque:domain", chosen by the creating server (v1–v11).
	RoomIDServerAssigned RoomIDFormat = iota + 1
	// RoomIDCreateEventHash: the create event's ID with "!" instead of "$" (v12).
	RoomIDCreateEventHash
)

// StateResAlgorithm selects a state resolution algorithm.
type StateResAlgorithm int

const (
	StateResV1  StateResAlgorithm = iota + 1 // room v1
	StateResV2                               // rooms v2–v11
	StateResV21                              // room v12: v2 with an empty start map and the conflicted state subgraph
)

// RedactionAlgorithm selects which keys survive a redaction.
type RedactionAlgorithm int

const (
	RedactionV1  RedactionAlgorithm = iota + 1 // v1–v5 (fragments/v1-redactions.md)
	RedactionV6                                // v6–v8: m.room.aliases no longer kept
	RedactionV9                                // v9–v10: join_authorised_via_users_server and join_rules.allow kept
	RedactionV11                               // v11+: fragments/v11-redactions.md
)

// ID is a room version identifier such as "10".
type ID string

// Version holds every rule switch of one room version.
type Version struct {
	ID     ID
	Stable bool

	EventFormat  EventFormat
	RoomIDFormat RoomIDFormat
	StateRes     StateResAlgorithm
	Redaction    RedactionAlgorithm

	// StrictCanonicalJSON: reject floats and out-of-range integers, and bound
	// depth at 2^53-1 (v6+, fragments/v6-canonical-json.md).
	StrictCanonicalJSON bool
	// EnforceKeyValidity: a signing key must be valid at the event's
	// origin_server_ts, valid_until_ts capped at 7 days (v5+, v5-signing-requirements.md).
	EnforceKeyValidity bool
	// RedactionAuthRule: auth rule 11 of v1/v2 checks redactions
	// (redact level or same event-ID domain). Removed in v3.
	RedactionAuthRule bool
	// SpecialCaseAliasesAuth: auth rule 4 of v1–v5 for m.room.aliases
	// (state_key must equal the sender's domain). Removed in v6.
	SpecialCaseAliasesAuth bool
	// NotificationsPowerLevels: power level changes to `notifications` are
	// checked like `events` (v6+).
	NotificationsPowerLevels bool
	// Knocking: the `knock` membership and join rule (v7+).
	Knocking bool
	// RestrictedJoins: the `restricted` join rule and
	// join_authorised_via_users_server (v8+).
	RestrictedJoins bool
	// KnockRestricted: the `knock_restricted` join rule (v10+).
	KnockRestricted bool
	// IntegerPowerLevels: power level values must be JSON integers; earlier
	// versions also accept strings (and, without strict JSON, floats) (v10+).
	IntegerPowerLevels bool
	// CreatorIsSender: the room creator is the create event's sender, not
	// content.creator (v11+).
	CreatorIsSender bool
	// RedactsInContent: m.room.redaction carries `redacts` in content rather
	// than at the top level (v11+).
	RedactsInContent bool
	// LegacyPDUFields: PDUs may carry top-level `origin`, `membership` and
	// `prev_state`, which redaction preserves (v1–v10).
	LegacyPDUFields bool
	// PrivilegedCreators: creators (create sender plus content.additional_creators)
	// have infinite power and may not appear in power_levels.users (v12).
	PrivilegedCreators bool
	// CreateEventInAuthEvents: events cite the create event in auth_events
	// (v1–v11). In v12 the room ID stands for it and it must not be cited.
	CreateEventInAuthEvents bool
	// CreateEventHasRoomID: the create event carries room_id (v1–v11).
	CreateEventHasRoomID bool
}

// RoomIDFromCreateEvent reports whether the room ID is derived from the
// create event's reference hash.
func (v *Version) RoomIDFromCreateEvent() bool { return v.RoomIDFormat == RoomIDCreateEventHash }

// EventIDsAreHashes reports whether event IDs are reference hashes (v3+).
func (v *Version) EventIDsAreHashes() bool { return v.EventFormat != EventFormatV1 }

// AllowsJoinRule reports whether the join rule is meaningful in this version.
// Unknown rules are still storable; auth treats them as "reject joins".
func (v *Version) AllowsJoinRule(rule string) bool {
	switch rule {
	case "public", "invite":
		return true
	case "knock":
		return v.Knocking
	case "restricted":
		return v.RestrictedJoins
	case "knock_restricted":
		return v.KnockRestricted
	}
	return false
}

// Default is the room version for new rooms (spec: rooms/_index.md,
// "Servers SHOULD use room version 12").
const Default ID = "12"

var versions = buildTable()

func buildTable() map[ID]*Version {
	v1 := Version{
		ID: "1", Stable: true,
		EventFormat: EventFormatV1, RoomIDFormat: RoomIDServerAssigned,
		StateRes: StateResV1, Redaction: RedactionV1,
		RedactionAuthRule: true, SpecialCaseAliasesAuth: true,
		LegacyPDUFields: true, CreateEventInAuthEvents: true, CreateEventHasRoomID: true,
	}
	v2 := v1
	v2.ID, v2.StateRes = "2", StateResV2

	v3 := v2
	v3.ID, v3.EventFormat, v3.RedactionAuthRule = "3", EventFormatV3, false

	v4 := v3
	v4.ID, v4.EventFormat = "4", EventFormatV4

	v5 := v4
	v5.ID, v5.EnforceKeyValidity = "5", true

	v6 := v5
	v6.ID, v6.Redaction = "6", RedactionV6
	v6.StrictCanonicalJSON, v6.SpecialCaseAliasesAuth, v6.NotificationsPowerLevels = true, false, true

	v7 := v6
	v7.ID, v7.Knocking = "7", true

	v8 := v7
	v8.ID, v8.RestrictedJoins = "8", true

	v9 := v8
	v9.ID, v9.Redaction = "9", RedactionV9

	v10 := v9
	v10.ID, v10.KnockRestricted, v10.IntegerPowerLevels = "10", true, true

	v11 := v10
	v11.ID, v11.Redaction = "11", RedactionV11
	v11.CreatorIsSender, v11.RedactsInContent, v11.LegacyPDUFields = true, true, false

	v12 := v11
	v12.ID, v12.RoomIDFormat, v12.StateRes = "12", RoomIDCreateEventHash, StateResV21
	v12.PrivilegedCreators, v12.CreateEventInAuthEvents, v12.CreateEventHasRoomID = true, false, false

	t := map[ID]*Version{}
	for _, v := range []Version{v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12} {
		v := v
		t[v.ID] = &v
	}
	return t
}

// Get returns the version with the given ID, or false if Myelin does not
// implement it. The returned value is shared and must not be modified.
func Get(id ID) (*Version, bool) {
	v, ok := versions[id]
	return v, ok
}

// MustGet is Get for versions known to exist (tests, constants).
func MustGet(id ID) *Version {
	v, ok := versions[id]
	if !ok {
		panic("roomversion: unknown version " + string(id))
	}
	return v
}

// Known reports whether id is a version this server implements.
func Known(id ID) bool { _, ok := versions[id]; return ok }

// All lists the implemented versions in numeric order (for /capabilities).
func All() []*Version {
	out := make([]*Version, 0, len(versions))
	for _, v := range versions {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return numeric(out[i].ID) < numeric(out[j].ID) })
	return out
}

func numeric(id ID) int {
	n := 0
	for _, c := range id {
		if c < '0' || c > '9' {
			return 1 << 30
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// ValidID checks the room version grammar (rooms/_index.md "Room version
// grammar"): 1–32 code points of a-z, 0-9, '.', '-'. A valid ID need not be
// known.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
