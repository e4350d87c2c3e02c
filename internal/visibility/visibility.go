// Package visibility decides which room events a user may see, following
// client-server-api "History visibility" (modules/history_visibility.md).
// It is pure: the caller supplies the room state around the event.
package visibility

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
)

// Values of m.room.history_visibility.
const (
	WorldReadable = "world_readable"
	Shared        = "shared"
	Invited       = "invited"
	Joined        = "joined"
)

// StateLookup finds a state event (nil when absent).
type StateLookup interface {
	Get(typ, stateKey string) *event.Event
}

// HistoryVisibility returns the history visibility in a state, "shared"
// when unset or unreadable (the spec's default).
func HistoryVisibility(st StateLookup) string {
	ev := st.Get(event.TypeHistoryVisibility, "")
	if ev == nil {
		return Shared
	}
	var c struct {
		HV string `json:"history_visibility"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil {
		return Shared
	}
	switch c.HV {
	case WorldReadable, Shared, Invited, Joined:
		return c.HV
	}
	return Shared
}

// Membership returns the user's membership in a state ("" if none).
func Membership(st StateLookup, userID string) string {
	if ev := st.Get(event.TypeMember, userID); ev != nil {
		return ev.Membership()
	}
	return ""
}

// CanSee applies the spec's algorithm to one event. before is the state
// before the event; joinedLater reports whether the user is (or was) joined
// at some point after the event — the caller answers it from the user's
// current membership, which is what "shared" means in practice.
//
//  1. world_readable: allow.
//  2. the user's membership at the event was join: allow.
//  3. shared, and the user joined after the event: allow.
//  4. invited, and the user's membership was invite: allow.
//  5. otherwise deny.
//
// A user always sees their own membership events (Synapse does the same: the
// state after such an event is what matters to its subject).
func CanSee(e *event.Event, before StateLookup, userID string, joinedLater bool) bool {
	if e.Type() == event.TypeMember && e.StateKeyEquals(userID) {
		return true
	}
	hv := HistoryVisibility(before)
	if hv == WorldReadable {
		return true
	}
	m := Membership(before, userID)
	if m == event.Join {
		return true
	}
	if hv == Shared && joinedLater {
		return true
	}
	if hv == Invited && m == event.Invite {
		return true
	}
	return false
}

// Erased says how a reader is shown an event whose sender asked for their
// content to be erased when deactivating (client-server-api "Account
// deactivation", erase, spec v1.10; MSC4025): users who join the room after
// the request are served redacted copies, while those who could see the
// event before keep seeing it whole. Which users saw an event is not
// recorded, so, as Synapse does, the reader's membership at the event
// stands for it: a reader who was joined when the event was sent is shown
// it whole, anyone else who may see it (through shared or world_readable
// history, or an invite) is shown the redacted copy. The erased user's
// events are never redacted for the user themself.
func Erased(e *event.Event, before StateLookup, userID string) (redact bool) {
	if e.Sender() == userID {
		return false
	}
	return Membership(before, userID) != event.Join
}
