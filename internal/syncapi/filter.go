package syncapi

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
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
	// UnreadThreadNotifications asks for notification counts per thread
	// (client-server-api "Receiving notifications"); read from the
	// timeline filter.
	UnreadThreadNotifications bool `json:"unread_thread_notifications,omitempty"`
	// RelatedByRelTypes and RelatedBySenders keep only events that other
	// events relate to with one of these rel_types, and from one of these
	// senders (MSC3440's filter fields, which the spec never took up;
	// Synapse serves them on /messages and /context, and so does
	// Myelin).
	RelatedByRelTypes *[]string `json:"related_by_rel_types,omitempty"`
	RelatedBySenders  *[]string `json:"related_by_senders,omitempty"`
}

// FiltersByRelations reports whether the filter keeps only events with
// certain relations, which the relations index decides.
func (f *RoomEventFilter) FiltersByRelations() bool {
	return f.RelatedByRelTypes != nil || f.RelatedBySenders != nil
}

// Bounds on client filters, so a filter can't make a request unbounded.
const (
	DefaultTimelineLimit = 10
	MaxTimelineLimit     = 1000
)

// Bounds on what a filter may hold, the same wherever a client gives one
// (/sync inline or uploaded, /messages, /context): its JSON size and the
// length of each of its lists. Every event of a response is matched
// against the type patterns, so unbounded lists let one request cost
// seconds of CPU. 16 KiB holds a few hundred room IDs; a list of 500 is
// more than any client uses (Synapse bounds neither, but nothing sends
// more).
const (
	MaxFilterBytes   = 16 * 1024
	MaxFilterListLen = 500
)

// Validate checks a room event filter's lists against MaxFilterListLen.
func (f *RoomEventFilter) Validate() error {
	if err := f.EventFilter.validate(); err != nil {
		return err
	}
	if err := checkLists(map[string][]string{
		"related_by_rel_types": deref(f.RelatedByRelTypes), "related_by_senders": deref(f.RelatedBySenders),
	}); err != nil {
		return err
	}
	return checkRoomLists(deref(f.Rooms), f.NotRooms)
}

func (f *EventFilter) validate() error {
	if err := checkLists(map[string][]string{
		"types": deref(f.Types), "not_types": f.NotTypes, "senders": deref(f.Senders), "not_senders": f.NotSenders,
	}); err != nil {
		return err
	}
	// sync_filter.yaml: senders and not_senders are lists of user IDs
	// (format mx-user-id); Synapse's filter schema refuses others.
	return checkIDs(map[string][]string{"senders": deref(f.Senders), "not_senders": f.NotSenders}, "user", func(id string) bool {
		_, err := ids.ParseUserID(id)
		return err == nil
	})
}

// checkRoomLists bounds a filter's rooms and not_rooms lists and refuses
// entries that are not room IDs (sync_filter.yaml: format mx-room-id, as
// Synapse's filter schema checks): a typo would otherwise silently match
// nothing.
func checkRoomLists(rooms, notRooms []string) error {
	lists := map[string][]string{"rooms": rooms, "not_rooms": notRooms}
	if err := checkLists(lists); err != nil {
		return err
	}
	return checkIDs(lists, "room", ids.ValidRoomID)
}

// checkIDs refuses a list entry that valid rejects, naming the list.
func checkIDs(lists map[string][]string, what string, valid func(string) bool) error {
	for name, l := range lists {
		for _, id := range l {
			if !valid(id) {
				return merr.InvalidParam(fmt.Sprintf("filter: %s must hold %s IDs; %.80q is not one", name, what, id))
			}
		}
	}
	return nil
}

func checkLists(lists map[string][]string) error {
	for name, l := range lists {
		if len(l) > MaxFilterListLen {
			return merr.InvalidParam(fmt.Sprintf("filter: %s has %d entries; at most %d are allowed", name, len(l), MaxFilterListLen))
		}
	}
	return nil
}

func deref(l *[]string) []string {
	if l == nil {
		return nil
	}
	return *l
}

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

// globMatch matches the '*' wildcard of event filter type lists. It
// allocates nothing: it runs for every event against every pattern.
func globMatch(pattern, s string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:star]) {
		return false
	}
	s, pattern = s[star:], pattern[star+1:]
	for {
		star = strings.IndexByte(pattern, '*')
		if star < 0 {
			return strings.HasSuffix(s, pattern)
		}
		j := strings.Index(s, pattern[:star])
		if j < 0 {
			return false
		}
		s, pattern = s[j+star:], pattern[star+1:]
	}
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
