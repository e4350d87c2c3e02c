package pushrules

import (
	"encoding/json"
	"strings"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Bounds on what a user may store, so that one account's rules stay a
// small document that every /sync and every evaluation can afford.
const (
	MaxUserRules    = 500 // of all kinds together
	MaxConditions   = 32  // per rule
	MaxActions      = 32  // per rule
	MaxRuleIDLength = 255
	MaxStringLength = 1024 // keys, patterns, values, tweak names
)

// Merge returns the full ruleset of userID from what was stored: the
// server-default rules of this version, in their places, with the enabled
// flags and actions the user chose for them, and the user's own rules in
// their order. Stored default rules this version does not define are
// dropped; so are rules that repeat an ID already seen.
func Merge(stored *Ruleset, userID string) Ruleset {
	out := Defaults(userID)
	if stored == nil {
		return out
	}
	for _, k := range Kinds {
		defs := *out.list(k)
		for i := range defs {
			if r, ok := stored.Find(k, defs[i].RuleID); ok {
				defs[i].Enabled = r.Enabled
				if r.Actions != nil {
					defs[i].Actions = StripHistorical(r.Actions)
				}
			}
		}
		seen := map[string]bool{}
		var user []Rule
		for _, r := range stored.Rules(k) {
			if IsServerDefault(r.RuleID) || seen[r.RuleID] {
				continue
			}
			seen[r.RuleID] = true
			r.Default = false
			user = append(user, normalise(k, r))
		}
		*out.list(k) = assemble(k, user, defs)
	}
	return out
}

// assemble orders a kind's rules: .m.rule.master first, then the user's
// rules, then the other server-default rules, which rank below the user's
// (client-server-api "Predefined Rules").
func assemble(k Kind, user, defs []Rule) []Rule {
	out := make([]Rule, 0, len(user)+len(defs))
	if k == Override && len(defs) > 0 && defs[0].RuleID == masterRuleID {
		out = append(out, defs[0])
		defs = defs[1:]
	}
	out = append(out, user...)
	return append(out, defs...)
}

// split separates a kind's rules into the user's and the server's.
func split(rules []Rule) (user, defs []Rule) {
	for _, r := range rules {
		if IsServerDefault(r.RuleID) {
			defs = append(defs, r)
		} else {
			user = append(user, r)
		}
	}
	return user, defs
}

// normalise gives a rule the fields of its kind and only those.
func normalise(k Kind, r Rule) Rule {
	switch k {
	case Override, Underride:
		if r.Conditions == nil {
			r.Conditions = []Condition{}
		}
		r.Pattern = nil
	case Content:
		r.Conditions = nil
		if r.Pattern == nil {
			r.Pattern = str("")
		}
	default:
		r.Conditions, r.Pattern = nil, nil
	}
	if r.Actions == nil {
		r.Actions = []Action{}
	}
	return r
}

// CheckRuleID checks a rule ID from a request path: never empty, never
// longer than MaxRuleIDLength, and without "/" or "\" (client-server-api
// PUT /pushrules/global/{kind}/{ruleId}).
func CheckRuleID(ruleID string) error {
	if ruleID == "" || len(ruleID) > MaxRuleIDLength || strings.ContainsAny(ruleID, `/\`) {
		return merr.InvalidParam("invalid rule ID")
	}
	return nil
}

func checkKind(k Kind) error {
	if !ValidKind(k) {
		return merr.InvalidParam("unknown rule kind " + string(k))
	}
	return nil
}

func notFound() error { return merr.NotFound("The push rule was not found.") }

// Get returns one rule.
func Get(rs *Ruleset, k Kind, ruleID string) (Rule, error) {
	rules, i, err := locate(rs, k, ruleID)
	if err != nil {
		return Rule{}, err
	}
	return rules[i], nil
}

// NewRule is the body of PUT /pushrules/global/{kind}/{ruleId}.
type NewRule struct {
	Actions    []Action    `json:"actions"`
	Conditions []Condition `json:"conditions"`
	Pattern    *string     `json:"pattern"`
}

// ParseNewRule reads and checks a PUT body for a rule of kind k.
func ParseNewRule(k Kind, body []byte) (NewRule, error) {
	var raw struct {
		Actions    *json.RawMessage `json:"actions"`
		Conditions json.RawMessage  `json:"conditions"`
		Pattern    json.RawMessage  `json:"pattern"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return NewRule{}, merr.BadJSON("body must be a JSON object")
	}
	var nr NewRule
	if raw.Actions == nil {
		return NewRule{}, merr.MissingParam("actions is required")
	}
	actions, err := ParseActions(*raw.Actions)
	if err != nil {
		return NewRule{}, err
	}
	nr.Actions = actions
	switch k {
	case Content:
		if raw.Pattern == nil {
			return NewRule{}, merr.MissingParam("content rules need a pattern")
		}
		var p string
		if json.Unmarshal(raw.Pattern, &p) != nil || len(p) > MaxStringLength {
			return NewRule{}, merr.BadJSON("pattern must be a string")
		}
		nr.Pattern = &p
	case Override, Underride:
		if raw.Conditions != nil && string(raw.Conditions) != "null" {
			if err := json.Unmarshal(raw.Conditions, &nr.Conditions); err != nil {
				return NewRule{}, merr.BadJSON("conditions must be an array of condition objects")
			}
		}
		if len(nr.Conditions) > MaxConditions {
			return NewRule{}, merr.BadJSON("too many conditions")
		}
		for _, c := range nr.Conditions {
			if err := checkCondition(c); err != nil {
				return NewRule{}, err
			}
		}
		if nr.Conditions == nil {
			nr.Conditions = []Condition{}
		}
	}
	return nr, nil
}

// checkCondition checks the parameters of the condition kinds this server
// knows. Conditions of other kinds are stored; they never match.
func checkCondition(c Condition) error {
	if c.Kind == "" || len(c.Kind) > MaxStringLength || len(c.Key) > MaxStringLength || len(c.Is) > MaxStringLength ||
		len(c.Value) > MaxStringLength || (c.Pattern != nil && len(*c.Pattern) > MaxStringLength) {
		return merr.BadJSON("condition has no kind or a parameter that is too long")
	}
	switch c.Kind {
	case CondEventMatch:
		if c.Key == "" || c.Pattern == nil {
			return merr.BadJSON("event_match needs key and pattern")
		}
	case CondEventPropertyIs, CondEventPropertyContains:
		if c.Key == "" || c.Value == nil {
			return merr.BadJSON(c.Kind + " needs key and value")
		}
		if _, ok := parseValue(c.Value); !ok {
			return merr.BadJSON(c.Kind + " value must be a string, an integer, a boolean or null")
		}
	case CondRoomMemberCount:
		if _, _, ok := parseMemberCount(c.Is); !ok {
			return merr.BadJSON("room_member_count needs is: an integer optionally prefixed by ==, <, >, <= or >=")
		}
	case CondSenderNotifPermission:
		if c.Key == "" {
			return merr.BadJSON("sender_notification_permission needs key")
		}
	}
	return nil
}

// ParseActions reads an actions array. The historical actions are accepted
// and stripped; other unknown string actions are refused, as is any object
// but set_tweak.
func ParseActions(raw json.RawMessage) ([]Action, error) {
	var actions []Action
	if err := json.Unmarshal(raw, &actions); err != nil || (actions == nil && string(raw) != "[]") {
		return nil, merr.BadJSON("actions must be an array of strings and set_tweak objects")
	}
	if len(actions) > MaxActions {
		return nil, merr.BadJSON("too many actions")
	}
	for _, a := range actions {
		switch a.Name {
		case ActionNotify, ActionDontNotify, ActionCoalesce:
		case ActionSetTweak:
			if a.Tweak == "" || len(a.Tweak) > MaxStringLength || len(a.Value) > MaxStringLength {
				return nil, merr.BadJSON("set_tweak needs a tweak name")
			}
		default:
			return nil, merr.BadJSON("unknown action " + a.Name)
		}
	}
	return StripHistorical(actions), nil
}

// Put adds or replaces a user rule (PUT /pushrules/global/{kind}/{ruleId}).
// A new rule is enabled and, without before or after, becomes the user's
// most important rule of its kind; a replaced rule keeps its place and its
// enabled flag unless before or after moves it. before and after name user
// rules of the same kind; with both, before wins.
func Put(rs *Ruleset, k Kind, ruleID string, nr NewRule, before, after string) error {
	if err := checkKind(k); err != nil {
		return err
	}
	if err := CheckRuleID(ruleID); err != nil {
		return err
	}
	if IsServerDefault(ruleID) {
		return merr.InvalidParam("rule IDs starting with '.' are reserved for server-default rules")
	}
	user, defs := split(rs.Rules(k))
	rule := Rule{RuleID: ruleID, Enabled: true, Conditions: nr.Conditions, Pattern: nr.Pattern, Actions: nr.Actions}
	at := 0
	if i := indexOf(user, ruleID); i >= 0 {
		rule.Enabled = user[i].Enabled
		user = append(user[:i:i], user[i+1:]...)
		at = i
	} else if countUser(rs)+1 > MaxUserRules {
		return merr.BadRequest(merr.CodeUnknown, "too many push rules")
	}
	for _, rel := range []struct {
		id    string
		after int
	}{{before, 0}, {after, 1}} {
		if rel.id == "" {
			continue
		}
		if IsServerDefault(rel.id) {
			return merr.InvalidParam("rules cannot be placed relative to server-default rules")
		}
		i := indexOf(user, rel.id)
		if i < 0 {
			return merr.BadRequest(merr.CodeUnknown, "before/after rule not found: "+rel.id)
		}
		at = i + rel.after
		break
	}
	user = append(user[:at], append([]Rule{normalise(k, rule)}, user[at:]...)...)
	*rs.list(k) = assemble(k, user, defs)
	return nil
}

func indexOf(rules []Rule, id string) int {
	for i, r := range rules {
		if r.RuleID == id {
			return i
		}
	}
	return -1
}

func countUser(rs *Ruleset) int {
	n := 0
	for _, k := range Kinds {
		u, _ := split(rs.Rules(k))
		n += len(u)
	}
	return n
}

// Delete removes a user rule. Server-default rules cannot be removed (they
// can be disabled).
func Delete(rs *Ruleset, k Kind, ruleID string) error {
	rules, i, err := locate(rs, k, ruleID)
	if err != nil {
		return err
	}
	if IsServerDefault(ruleID) {
		return merr.InvalidParam("server-default rules cannot be deleted")
	}
	*rs.list(k) = append(rules[:i:i], rules[i+1:]...)
	return nil
}

// SetEnabled enables or disables any rule, the server's included.
func SetEnabled(rs *Ruleset, k Kind, ruleID string, enabled bool) error {
	return edit(rs, k, ruleID, func(r *Rule) { r.Enabled = enabled })
}

// SetActions replaces the actions of any rule, the server's included.
func SetActions(rs *Ruleset, k Kind, ruleID string, actions []Action) error {
	return edit(rs, k, ruleID, func(r *Rule) { r.Actions = StripHistorical(actions) })
}

func edit(rs *Ruleset, k Kind, ruleID string, f func(*Rule)) error {
	rules, i, err := locate(rs, k, ruleID)
	if err != nil {
		return err
	}
	f(&rules[i])
	return nil
}

// locate finds a rule: its kind's rules and its index in them.
func locate(rs *Ruleset, k Kind, ruleID string) ([]Rule, int, error) {
	if err := checkKind(k); err != nil {
		return nil, 0, err
	}
	rules := rs.Rules(k)
	i := indexOf(rules, ruleID)
	if i < 0 {
		return nil, 0, notFound()
	}
	return rules, i, nil
}
