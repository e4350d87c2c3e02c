// Package pushrules holds the push rules of the Client-Server API
// (client-server-api "Push Rules"): their wire form, the spec's
// server-default rules, the edits the /pushrules API makes, and their
// evaluation against an event for many recipients.
//
// The package is pure: no SQL, no HTTP, no clocks, no globals that change.
// An event is prepared once (Prepare flattens its properties and lower-cases
// what globs compare); a user's rules are compiled once (Compile turns globs
// into matchers) and shared by every user whose rules are the defaults, so
// the per-recipient work is walking about fifteen compiled rules.
package pushrules

import (
	"bytes"
	"encoding/json"
)

// Kind is one of the five kinds of push rule.
type Kind string

// The kinds, in the order they are checked (client-server-api "Push Rules").
const (
	Override  Kind = "override"
	Content   Kind = "content"
	Room      Kind = "room"
	Sender    Kind = "sender"
	Underride Kind = "underride"
)

// Kinds lists the kinds in evaluation order.
var Kinds = [...]Kind{Override, Content, Room, Sender, Underride}

// ValidKind reports whether k is one of the five kinds.
func ValidKind(k Kind) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Condition kinds (client-server-api "Conditions").
const (
	CondEventMatch            = "event_match"
	CondEventPropertyIs       = "event_property_is"
	CondEventPropertyContains = "event_property_contains"
	CondContainsDisplayName   = "contains_display_name"
	CondRoomMemberCount       = "room_member_count"
	CondSenderNotifPermission = "sender_notification_permission"
)

// Condition is one condition of an override or underride rule. Conditions
// of kinds this server does not know are kept as written (they never match).
type Condition struct {
	Kind string `json:"kind"`
	// Key is the dot-separated property path (event_match,
	// event_property_is, event_property_contains) or the notifications key
	// of the power levels (sender_notification_permission).
	Key string `json:"key,omitempty"`
	// Pattern is event_match's glob; nil when absent ("" is a pattern).
	Pattern *string `json:"pattern,omitempty"`
	// Is is room_member_count's comparison, e.g. "2" or ">=10".
	Is string `json:"is,omitempty"`
	// Value is the JSON value of event_property_is and
	// event_property_contains; nil when absent (JSON null is "null").
	Value json.RawMessage `json:"value,omitempty"`
}

// Action names (client-server-api "Actions"). DontNotify and Coalesce are
// the historical actions, which are stripped wherever they are met.
const (
	ActionNotify     = "notify"
	ActionSetTweak   = "set_tweak"
	ActionDontNotify = "dont_notify"
	ActionCoalesce   = "coalesce"
)

// Action is one action of a rule: a bare name ("notify") or a set_tweak
// with a tweak name and an optional value.
type Action struct {
	// Name is the action: "notify", "set_tweak", or another string action.
	Name string
	// Tweak and Value are set_tweak's parameters; Value is nil when absent.
	Tweak string
	Value json.RawMessage
}

// Notify is the "notify" action.
func Notify() Action { return Action{Name: ActionNotify} }

// Tweak is a set_tweak action; value is nil for a tweak without one.
func Tweak(name string, value json.RawMessage) Action {
	return Action{Name: ActionSetTweak, Tweak: name, Value: value}
}

// MarshalJSON writes a bare name as a string and set_tweak as an object.
func (a Action) MarshalJSON() ([]byte, error) {
	if a.Name != ActionSetTweak {
		return json.Marshal(a.Name)
	}
	if a.Value == nil {
		return json.Marshal(struct {
			SetTweak string `json:"set_tweak"`
		}{a.Tweak})
	}
	return json.Marshal(struct {
		SetTweak string          `json:"set_tweak"`
		Value    json.RawMessage `json:"value"`
	}{a.Tweak, a.Value})
}

// UnmarshalJSON reads either form. An object without a string set_tweak
// is an error: no other object action is defined.
func (a *Action) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*a = Action{}
		return json.Unmarshal(b, &a.Name)
	}
	var obj struct {
		SetTweak *string         `json:"set_tweak"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	if obj.SetTweak == nil {
		return errBadAction
	}
	*a = Action{Name: ActionSetTweak, Tweak: *obj.SetTweak, Value: obj.Value}
	return nil
}

// Rule is one push rule in the wire form of the /pushrules API and of the
// m.push_rules account data.
type Rule struct {
	RuleID  string `json:"rule_id"`
	Default bool   `json:"default"`
	Enabled bool   `json:"enabled"`
	// Conditions of override and underride rules; non-nil for them (an
	// empty list is written as []), nil for the other kinds.
	Conditions []Condition `json:"conditions"`
	// Pattern of a content rule; nil for the other kinds.
	Pattern *string  `json:"pattern,omitempty"`
	Actions []Action `json:"actions"`
}

// MarshalJSON leaves out conditions where the kind has none.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	if r.Conditions != nil {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		RuleID  string   `json:"rule_id"`
		Default bool     `json:"default"`
		Enabled bool     `json:"enabled"`
		Pattern *string  `json:"pattern,omitempty"`
		Actions []Action `json:"actions"`
	}{r.RuleID, r.Default, r.Enabled, r.Pattern, r.Actions})
}

// IsServerDefault reports whether a rule ID is reserved for server-default
// rules: they start with a dot (client-server-api "Predefined Rules").
func IsServerDefault(ruleID string) bool {
	return len(ruleID) > 0 && ruleID[0] == '.'
}

// Ruleset is the global ruleset: each kind's rules, most important first.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Rules returns the rules of one kind (nil for an unknown kind).
func (rs *Ruleset) Rules(k Kind) []Rule {
	if p := rs.list(k); p != nil {
		return *p
	}
	return nil
}

func (rs *Ruleset) list(k Kind) *[]Rule {
	switch k {
	case Override:
		return &rs.Override
	case Content:
		return &rs.Content
	case Room:
		return &rs.Room
	case Sender:
		return &rs.Sender
	case Underride:
		return &rs.Underride
	}
	return nil
}

// Find returns the rule of kind k with the given ID.
func (rs *Ruleset) Find(k Kind, ruleID string) (Rule, bool) {
	for _, r := range rs.Rules(k) {
		if r.RuleID == ruleID {
			return r, true
		}
	}
	return Rule{}, false
}

// Document is the content of the m.push_rules account data event and the
// body of GET /pushrules/: the rulesets by scope, of which only "global"
// is defined.
type Document struct {
	Global Ruleset `json:"global"`
}
