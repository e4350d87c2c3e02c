package eventauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Default levels (client-server-api m.room.power_levels).
const (
	defaultBan           = 50
	defaultKick          = 50
	defaultRedact        = 50
	defaultInvite        = 0
	defaultEventsDefault = 0
	defaultStateDefault  = 50
	defaultUsersDefault  = 0
	defaultNotification  = 50 // notifications.room; Synapse uses 50 for any key
	// legacyCreatorLevel is the room creator's level in rooms v1–v11 that
	// have no m.room.power_levels event.
	legacyCreatorLevel = 100
)

// Infinite is the power level of room creators in room version 12: higher
// than any level that can be written in a power_levels event.
const Infinite int64 = math.MaxInt64

// PowerLevels is the parsed content of a room's m.room.power_levels event
// with the spec's defaults applied, plus the room version 12 creators, who
// have infinite power.
//
// Without a power_levels event, rooms v1–v11 give the creator 100 (recorded
// in Users) and everyone else 0; state_default stays 50. The schema of
// m.room.power_levels says so ("If there is no state_default in the
// m.room.power_levels event, or there is no m.room.power_levels event, the
// state_default is 50"), and so does Synapse; older spec text said 0.
type PowerLevels struct {
	Ban, Kick, Redact, Invite                 int64
	EventsDefault, StateDefault, UsersDefault int64
	Events                                    map[string]int64
	Users                                     map[string]int64
	Notifications                             map[string]int64
	// Creators are the room creators with infinite power (room v12 only;
	// empty in earlier versions, where the creator is an ordinary user).
	Creators map[string]bool
	// Event is the power_levels event these came from; nil if none.
	Event *event.Event

	content *levelsContent // Event's content as written, for the change rules
}

// PowerLevelsFrom reads the power levels from the m.room.power_levels and
// m.room.create events in state. It fails when the power_levels content is
// malformed for the room version (see parseLevels).
func PowerLevelsFrom(state StateLookup, v *roomversion.Version) (*PowerLevels, error) {
	create := state.Get(event.TypeCreate, "")
	plEv := state.Get(event.TypePowerLevels, "")
	p := &PowerLevels{Event: plEv}
	var c *levelsContent
	if plEv != nil {
		var err error
		if c, err = parseLevels(plEv.Content(), v, false); err != nil {
			return nil, fmt.Errorf("m.room.power_levels %s: %w", plEv.EventID(), err)
		}
	} else {
		c = &levelsContent{}
	}
	p.content = c
	p.Ban = c.get("ban", defaultBan)
	p.Kick = c.get("kick", defaultKick)
	p.Redact = c.get("redact", defaultRedact)
	p.Invite = c.get("invite", defaultInvite)
	p.EventsDefault = c.get("events_default", defaultEventsDefault)
	p.StateDefault = c.get("state_default", defaultStateDefault)
	p.UsersDefault = c.get("users_default", defaultUsersDefault)
	p.Events, p.Users, p.Notifications = c.events, c.users, c.notifications
	if p.Events == nil {
		p.Events = map[string]int64{}
	}
	if p.Users == nil {
		p.Users = map[string]int64{}
	}
	if p.Notifications == nil {
		p.Notifications = map[string]int64{}
	}
	p.Creators = map[string]bool{}
	if create != nil && v.PrivilegedCreators {
		for _, u := range Creators(create) {
			p.Creators[u] = true
		}
	}
	if plEv == nil && create != nil && !v.PrivilegedCreators {
		if creator := legacyCreator(create, v); creator != "" {
			p.Users[creator] = legacyCreatorLevel
		}
	}
	return p, nil
}

// UserLevel is the user's power level: Infinite for a room v12 creator, else
// users[userID], else users_default.
func (p *PowerLevels) UserLevel(userID string) int64 {
	if p.Creators[userID] {
		return Infinite
	}
	if l, ok := p.Users[userID]; ok {
		return l
	}
	return p.UsersDefault
}

// EventLevel is the level required to send an event of this type: events[type],
// else state_default for state events and events_default for others.
func (p *PowerLevels) EventLevel(eventType string, isState bool) int64 {
	if l, ok := p.Events[eventType]; ok {
		return l
	}
	if isState {
		return p.StateDefault
	}
	return p.EventsDefault
}

// NotificationLevel is the level required to trigger the notification key
// (e.g. "room" for @room): notifications[key], else 50.
func (p *PowerLevels) NotificationLevel(key string) int64 {
	if l, ok := p.Notifications[key]; ok {
		return l
	}
	return defaultNotification
}

// Creators returns the room creators named by a create event: in room v12
// the sender plus content.additional_creators (valid user IDs only, no
// duplicates); in v11 the sender; in v1–v10 content.creator (nil if absent).
func Creators(create *event.Event) []string {
	if create == nil {
		return nil
	}
	v := create.Version()
	if !v.CreatorIsSender {
		if c := legacyCreator(create, v); c != "" {
			return []string{c}
		}
		return nil
	}
	out := []string{create.Sender()}
	if !v.PrivilegedCreators {
		return out
	}
	extra, _ := additionalCreators(create.Content())
	for _, u := range extra {
		if u != create.Sender() && !contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// legacyCreator is the single creator of rooms v1–v11: content.creator
// before v11, the sender from v11.
func legacyCreator(create *event.Event, v *roomversion.Version) string {
	if v.CreatorIsSender {
		return create.Sender()
	}
	s, _ := contentString(create.Content(), "creator")
	return s
}

// additionalCreators reads content.additional_creators of a v12 create
// event. ok is false when it is present but not an array of valid user IDs
// (rooms/v12.md rule 1.4); the valid entries are still returned.
func additionalCreators(content json.RawMessage) (users []string, ok bool) {
	raw, err := canonicaljson.Get(content, "additional_creators")
	if err != nil {
		return nil, !errors.Is(err, canonicaljson.ErrSyntax)
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || raw[0] != '[' {
		return nil, false
	}
	ok = true
	for _, it := range items {
		var s string
		if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
			ok = false
			continue
		}
		if _, err := ids.ParseUserID(s); err != nil {
			ok = false
			continue
		}
		users = append(users, s)
	}
	return users, ok
}

// levelsContent is power_levels content with presence kept: the rules about
// changes (rooms/v12.md 10.6–10.10) compare values as written, not defaults.
type levelsContent struct {
	top           map[string]int64 // the seven integer properties, when present
	events        map[string]int64
	users         map[string]int64
	notifications map[string]int64
}

var topLevelKeys = [...]string{"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"}

func (c *levelsContent) get(key string, def int64) int64 {
	if l, ok := c.top[key]; ok {
		return l
	}
	return def
}

// parseLevels parses power_levels content for room version v:
//
//   - v10+ (IntegerPowerLevels): every level is a JSON integer; `events`,
//     `notifications` and `users` are objects of integers and `users` keys
//     are user IDs (rooms/v10.md rules 9.1–9.3).
//   - v1–v9: levels may also be strings ("fragments/v1-stringy-power-levels")
//     and, where the JSON allows them (v1–v5), floats, truncated
//     ("v1-floaty-power-levels"). `users` keys must be user IDs and its
//     values integers or integer strings (rule 10.1 / 9.1). The spec does not
//     say what a level that cannot be read as an integer means; Synapse
//     fails to authorise such an event (its int() raises), so we reject it.
//
// A JSON null is treated as absent in v1–v9, as Synapse's content.get()
// does. Values outside int64 are rejected: Synapse's Python integers are
// unbounded, but a room that needs such levels is not worth the complexity.
// Keys are matched exactly (a Go struct would match "Ban" for "ban").
//
// checkUserIDs is false for the power levels already in the room state: they
// passed these rules when they were authorised, and a user ID that is not
// valid simply never matches a sender (Synapse does not re-check either).
func parseLevels(content json.RawMessage, v *roomversion.Version, checkUserIDs bool) (*levelsContent, error) {
	// One string for the whole content: map keys below are substrings of it.
	obj := string(content)
	c := &levelsContent{top: make(map[string]int64, 7)}
	err := eachMember(obj, func(key, raw string) error {
		var err error
		switch key {
		case "users_default", "events_default", "state_default", "ban", "redact", "kick", "invite":
			if !v.IntegerPowerLevels && raw == "null" {
				return nil
			}
			l, err := parseLevel(raw, v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			c.top[key] = l
		case "events":
			if c.events, err = parseLevelMap(raw, v, false); err != nil {
				return fmt.Errorf("events: %w", err)
			}
		case "users":
			if c.users, err = parseLevelMap(raw, v, checkUserIDs); err != nil {
				return fmt.Errorf("users: %w", err)
			}
		case "notifications":
			if c.notifications, err = parseLevelMap(raw, v, false); err != nil {
				if v.IntegerPowerLevels || v.NotificationsPowerLevels {
					return fmt.Errorf("notifications: %w", err)
				}
				// Before v6 the auth rules ignore notifications; a
				// malformed one only loses its meaning.
				c.notifications = nil
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errBadJSON) {
			return nil, errors.New("content is not a JSON object")
		}
		return nil, err
	}
	return c, nil
}

// errLevelMap marks a malformed events/users/notifications object.
var errLevelMap = errors.New("not an object of power levels")

func parseLevelMap(raw string, v *roomversion.Version, userKeys bool) (map[string]int64, error) {
	if !v.IntegerPowerLevels && raw == "null" {
		return nil, nil
	}
	if raw == "" || raw[0] != '{' {
		return nil, errLevelMap
	}
	out := make(map[string]int64, strings.Count(raw, ","))
	err := eachMember(raw, func(k, val string) error {
		if userKeys {
			if _, err := ids.ParseUserID(k); err != nil {
				return fmt.Errorf("%q is not a valid user ID", k)
			}
		}
		l, err := parseLevel(val, v)
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		out[k] = l
		return nil
	})
	if errors.Is(err, errBadJSON) {
		return nil, errLevelMap
	}
	return out, err
}

// parseLevel reads one power level value.
func parseLevel(raw string, v *roomversion.Version) (int64, error) {
	if n, ok := parseCanonicalInt(raw); ok {
		return n, nil
	}
	if raw == "" {
		return 0, errors.New("empty value")
	}
	switch c := raw[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		if !strings.ContainsAny(raw, ".eE") {
			if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
				return n, nil
			}
		}
		if v.IntegerPowerLevels || !strings.ContainsAny(raw, ".eE") {
			return 0, fmt.Errorf("%.40s is not an integer power level in range", raw)
		}
		// v1-floaty-power-levels: apply the exponent, truncate at the point.
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("%.40s is out of range", raw)
		}
		f = math.Trunc(f)
		if f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, fmt.Errorf("%.40s is out of range", raw)
		}
		return int64(f), nil
	case c == '"' && !v.IntegerPowerLevels:
		s, ok := stringValue(raw)
		if !ok {
			return 0, errors.New("invalid string")
		}
		return parseStringLevel(s)
	}
	return 0, fmt.Errorf("%.40s is not an integer", raw)
}

// parseCanonicalInt reads a JSON integer of at most 18 digits (all levels
// that fit canonical JSON's ±(2^53-1) do) without allocating.
func parseCanonicalInt(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseStringLevel reads a power level written as a string
// (fragments/v1-stringy-power-levels.md): optional surrounding whitespace,
// an optional single sign, and base-10 digits with any leading zeros. What
// counts as whitespace is not spelled out; this is Python's str.strip()
// set, since that is what Synapse's int() strips.
func parseStringLevel(s string) (int64, error) {
	t := strings.TrimFunc(s, isPythonSpace)
	digits := t
	if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
	}
	n, err := strconv.ParseInt(t, 10, 64) // accepts the leading '+' too
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// isPythonSpace reports whether Python's str.isspace() holds for r.
func isPythonSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0,
		0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
