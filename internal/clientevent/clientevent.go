// Package clientevent turns PDUs into the event formats of the
// Client-Server API (client-server-api "Room Event Format" and "Stripped
// state"; data/api/client-server/definitions/client_event*.yaml). It is pure:
// the caller supplies what it knows (the clock, the redaction, the previous
// state, whether the reader sent it).
package clientevent

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
)

// Event is a ClientEvent. RoomID is omitted when empty (sync's
// ClientEventWithoutRoomID).
type Event struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	// Redacts is kept at the top level for clients in every room version
	// (the spec moved it into content in v11 but clients read both).
	Redacts  string    `json:"redacts,omitempty"`
	Unsigned *Unsigned `json:"unsigned,omitempty"`
	// Room is the event's room even when RoomID is omitted, for those
	// who add to the event after it is formatted (bundled aggregations).
	Room string `json:"-"`
}

// Unsigned carries the server's extra information about an event.
type Unsigned struct {
	Age             *int64          `json:"age,omitempty"`
	TransactionID   string          `json:"transaction_id,omitempty"`
	PrevContent     json.RawMessage `json:"prev_content,omitempty"`
	PrevSender      string          `json:"prev_sender,omitempty"`
	ReplacesState   string          `json:"replaces_state,omitempty"`
	RedactedBecause *Event          `json:"redacted_because,omitempty"`
	Membership      string          `json:"membership,omitempty"`
	InviteRoomState []StrippedEvent `json:"invite_room_state,omitempty"`
	// Relations is the bundled aggregation of the event's children
	// (client-server-api "Aggregations of child events").
	Relations *Relations `json:"m.relations,omitempty"`
}

// Relations is unsigned.m.relations: the aggregations of the rel_types
// the spec aggregates.
type Relations struct {
	// Thread is the m.thread aggregation (threading.md "Server-side
	// aggregation of m.thread relationships").
	Thread *ThreadAggregation `json:"m.thread,omitempty"`
	// Replace is the most recent valid replacement, whole (v1.7+).
	Replace *Event `json:"m.replace,omitempty"`
	// Reference lists the events referencing this one.
	Reference *ReferenceAggregation `json:"m.reference,omitempty"`
}

// ThreadAggregation summarises a thread for its root.
type ThreadAggregation struct {
	LatestEvent             *Event `json:"latest_event"`
	Count                   int    `json:"count"`
	CurrentUserParticipated bool   `json:"current_user_participated"`
}

// ReferenceAggregation is the m.reference aggregation.
type ReferenceAggregation struct {
	Chunk []EventRef `json:"chunk"`
}

// EventRef names an event.
type EventRef struct {
	EventID string `json:"event_id"`
}

// Redacted reports whether the event is served redacted.
func (e *Event) Redacted() bool { return e.Unsigned != nil && e.Unsigned.RedactedBecause != nil }

// Options says what the caller knows about the event beyond the PDU.
type Options struct {
	NowMS int64
	// OmitRoomID for sync's per-room sections.
	OmitRoomID bool
	// TransactionID is set only when the reader's device sent the event.
	TransactionID string
	// RedactedBy, when set, replaces the content with its redacted form.
	RedactedBy *event.Event
	// Prev is the state event this one replaced, if any.
	Prev *event.Event
	// Membership of the reader at the event (MSC4115-style unsigned.membership), optional.
	Membership string
}

// Format builds the ClientEvent of e.
func Format(e *event.Event, o Options) *Event {
	src := e
	if o.RedactedBy != nil {
		src = e.Redacted()
	}
	out := &Event{
		Content:        src.Content(),
		EventID:        e.EventID(),
		OriginServerTS: e.OriginServerTS(),
		Sender:         e.Sender(),
		StateKey:       e.StateKey(),
		Type:           e.Type(),
		Redacts:        src.Redacts(),
		Room:           e.RoomID(),
	}
	if !o.OmitRoomID {
		out.RoomID = e.RoomID()
	}
	u := &Unsigned{TransactionID: o.TransactionID, Membership: o.Membership}
	if o.NowMS > 0 {
		age := o.NowMS - e.OriginServerTS()
		if age < 0 {
			age = 0
		}
		u.Age = &age
	}
	if o.Prev != nil && e.IsState() {
		u.PrevContent = o.Prev.Content()
		u.PrevSender = o.Prev.Sender()
		u.ReplacesState = o.Prev.EventID()
	}
	if o.RedactedBy != nil {
		u.RedactedBecause = Format(o.RedactedBy, Options{NowMS: o.NowMS, OmitRoomID: o.OmitRoomID})
	}
	out.Unsigned = u
	return out
}

// StrippedEvent is stripped state (client-server-api "Stripped state").
type StrippedEvent struct {
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
}

// Strip returns the stripped form of a state event.
func Strip(e *event.Event) StrippedEvent {
	sk := ""
	if e.StateKey() != nil {
		sk = *e.StateKey()
	}
	return StrippedEvent{Content: e.Content(), Sender: e.Sender(), StateKey: sk, Type: e.Type()}
}

// InviteStateTypes are the state events servers share with invitees and
// knockers (client-server-api "Stripped state": recommended set).
var InviteStateTypes = []string{
	event.TypeCreate, event.TypeName, event.TypeAvatar, event.TypeTopic, event.TypeJoinRules,
	event.TypeCanonicalAlias, event.TypeEncryption, "m.room.guest_access",
}
