package syncapi

import (
	"encoding/json"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
)

// Filter is a sync filter (data/api/client-server/definitions/sync_filter.yaml).
type Filter struct {
	EventFields []string    `json:"event_fields,omitempty"`
	EventFormat string      `json:"event_format,omitempty"`
	AccountData EventFilter `json:"account_data"`
	Presence    EventFilter `json:"presence"`
	Room        RoomFilter  `json:"room"`
}

// RoomFilter filters the rooms section.
type RoomFilter struct {
	Rooms        *[]string       `json:"rooms,omitempty"`
	NotRooms     []string        `json:"not_rooms,omitempty"`
	IncludeLeave bool            `json:"include_leave,omitempty"`
	Timeline     RoomEventFilter `json:"timeline"`
	State        RoomEventFilter `json:"state"`
	Ephemeral    RoomEventFilter `json:"ephemeral"`
	AccountData  RoomEventFilter `json:"account_data"`
}

// EventFilter is the common part of event filters.
type EventFilter struct {
	Limit      *int      `json:"limit,omitempty"`
	Types      *[]string `json:"types,omitempty"`
	NotTypes   []string  `json:"not_types,omitempty"`
	Senders    *[]string `json:"senders,omitempty"`
	NotSenders []string  `json:"not_senders,omitempty"`
}

// RoomEventFilter adds room-event options.
type RoomEventFilter struct {
	EventFilter
	Rooms                   *[]string `json:"rooms,omitempty"`
	NotRooms                []string  `json:"not_rooms,omitempty"`
	LazyLoadMembers         bool      `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers bool      `json:"include_redundant_members,omitempty"`
	ContainsURL             *bool     `json:"contains_url,omitempty"`
}

// Bounds on client filters, so a filter can't make a request unbounded.
const (
	DefaultTimelineLimit = 10
	MaxTimelineLimit     = 1000
)

// TimelineLimit is the filter's timeline limit, bounded.
func (f *Filter) TimelineLimit() int {
	if f == nil || f.Room.Timeline.Limit == nil {
		return DefaultTimelineLimit
	}
	n := *f.Room.Timeline.Limit
	if n < 1 {
		return 1
	}
	if n > MaxTimelineLimit {
		return MaxTimelineLimit
	}
	return n
}

// globMatch matches the '*' wildcard of event filter type lists.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// Allows reports whether an event of this type and sender passes f.
func (f *EventFilter) Allows(typ, sender string) bool {
	if anyMatch(f.NotTypes, typ) {
		return false
	}
	if f.Types != nil && !anyMatch(*f.Types, typ) {
		return false
	}
	for _, s := range f.NotSenders {
		if s == sender {
			return false
		}
	}
	if f.Senders != nil {
		ok := false
		for _, s := range *f.Senders {
			if s == sender {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// AllowsEvent applies a room event filter to an event.
func (f *RoomEventFilter) AllowsEvent(e *event.Event) bool {
	if !f.Allows(e.Type(), e.Sender()) {
		return false
	}
	if f.ContainsURL != nil {
		var c struct {
			URL *string `json:"url"`
		}
		_ = json.Unmarshal(e.Content(), &c)
		if (c.URL != nil) != *f.ContainsURL {
			return false
		}
	}
	return true
}

// AllowsRoom applies rooms / not_rooms lists.
func allowsRoom(rooms *[]string, notRooms []string, roomID string) bool {
	for _, r := range notRooms {
		if r == roomID {
			return false
		}
	}
	if rooms == nil {
		return true
	}
	for _, r := range *rooms {
		if r == roomID {
			return true
		}
	}
	return false
}
