package syncapi

import (
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/clientevent"
)

// Response is the body of GET /sync (data/api/client-server/sync.yaml).
type Response struct {
	NextBatch   string         `json:"next_batch"`
	Rooms       Rooms          `json:"rooms"`
	AccountData EventList      `json:"account_data"`
	Presence    EventList      `json:"presence"`
	ToDevice    EventList      `json:"to_device"`
	DeviceLists *DeviceLists   `json:"device_lists,omitempty"`
	OTKCounts   map[string]int `json:"device_one_time_keys_count"`
	// UnusedFallbackKeyTypes is required (end_to_end_encryption.md
	// "Extensions to /sync"): clients read its absence as a server without
	// fallback keys.
	UnusedFallbackKeyTypes []string `json:"device_unused_fallback_key_types"`
}

// DeviceLists lists users whose devices changed.
type DeviceLists struct {
	Changed []string `json:"changed,omitempty"`
	Left    []string `json:"left,omitempty"`
}

// Rooms groups rooms by the user's membership.
type Rooms struct {
	Join   map[string]*JoinedRoom  `json:"join"`
	Invite map[string]*InvitedRoom `json:"invite"`
	Leave  map[string]*LeftRoom    `json:"leave"`
	Knock  map[string]*KnockedRoom `json:"knock"`
}

// EventList is a list of basic events ({type, content}).
type EventList struct {
	Events []json.RawMessage `json:"events"`
}

// ClientEvents is a list of client events.
type ClientEvents struct {
	Events []*clientevent.Event `json:"events"`
}

// Timeline is a room's timeline slice.
type Timeline struct {
	Events    []*clientevent.Event `json:"events"`
	Limited   bool                 `json:"limited"`
	PrevBatch string               `json:"prev_batch,omitempty"`
}

// Summary is the room summary used to name rooms.
type Summary struct {
	Heroes       []string `json:"m.heroes,omitempty"`
	JoinedCount  *int     `json:"m.joined_member_count,omitempty"`
	InvitedCount *int     `json:"m.invited_member_count,omitempty"`
}

// UnreadNotifications counts notifications.
type UnreadNotifications struct {
	NotificationCount int `json:"notification_count"`
	HighlightCount    int `json:"highlight_count"`
}

// JoinedRoom is a room the user is joined to.
type JoinedRoom struct {
	Summary Summary `json:"summary"`
	// State is the state up to the start of the timeline; StateAfter,
	// set instead when the client asked for use_state_after, up to its end.
	State               *ClientEvents       `json:"state,omitempty"`
	StateAfter          *ClientEvents       `json:"state_after,omitempty"`
	Timeline            Timeline            `json:"timeline"`
	Ephemeral           EventList           `json:"ephemeral"`
	AccountData         EventList           `json:"account_data"`
	UnreadNotifications UnreadNotifications `json:"unread_notifications"`
	// UnreadThreadNotifications counts by thread root when the filter
	// asks for it; UnreadNotifications then counts the main timeline.
	UnreadThreadNotifications map[string]UnreadNotifications `json:"unread_thread_notifications,omitempty"`
}

// stateLen is the number of state events the section carries.
func (jr *JoinedRoom) stateLen() int {
	n := 0
	if jr.State != nil {
		n += len(jr.State.Events)
	}
	if jr.StateAfter != nil {
		n += len(jr.StateAfter.Events)
	}
	return n
}

// InvitedRoom is a room the user is invited to.
type InvitedRoom struct {
	InviteState struct {
		Events []clientevent.StrippedEvent `json:"events"`
	} `json:"invite_state"`
	// sender is the invite's sender, for ignoring (not sent).
	sender string
}

// KnockedRoom is a room the user knocked on.
type KnockedRoom struct {
	KnockState struct {
		Events []clientevent.StrippedEvent `json:"events"`
	} `json:"knock_state"`
}

// LeftRoom is a room the user left or was removed from.
type LeftRoom struct {
	// State and StateAfter as in JoinedRoom.
	State       *ClientEvents `json:"state,omitempty"`
	StateAfter  *ClientEvents `json:"state_after,omitempty"`
	Timeline    Timeline      `json:"timeline"`
	AccountData EventList     `json:"account_data"`
}

func newResponse() *Response {
	return &Response{
		Rooms: Rooms{Join: map[string]*JoinedRoom{}, Invite: map[string]*InvitedRoom{},
			Leave: map[string]*LeftRoom{}, Knock: map[string]*KnockedRoom{}},
		AccountData: EventList{Events: []json.RawMessage{}},
		Presence:    EventList{Events: []json.RawMessage{}},
		ToDevice:    EventList{Events: []json.RawMessage{}},
		OTKCounts:   map[string]int{},

		UnusedFallbackKeyTypes: []string{},
	}
}

// empty reports whether an incremental response carries nothing new.
func (r *Response) empty() bool {
	return len(r.Rooms.Join) == 0 && len(r.Rooms.Invite) == 0 && len(r.Rooms.Leave) == 0 &&
		len(r.Rooms.Knock) == 0 && len(r.AccountData.Events) == 0 && len(r.ToDevice.Events) == 0 &&
		len(r.Presence.Events) == 0 &&
		(r.DeviceLists == nil || len(r.DeviceLists.Changed)+len(r.DeviceLists.Left) == 0)
}
