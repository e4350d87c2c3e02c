package pushrules

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Recipient is the user an event is evaluated for.
type Recipient struct {
	UserID string
	// DisplayName is the user's display name in the room, read only by
	// contains_display_name; callers may skip looking it up when
	// NeedsDisplayName is false.
	DisplayName string
}

// Result is what the first matching rule says about an event.
type Result struct {
	Kind   Kind
	RuleID string
	// Actions are the rule's actions without the historical ones.
	Actions []Action
	// Notify is whether the actions hold "notify".
	Notify bool
	// Highlight is the highlight tweak: true when given without a value,
	// false when not given (client-server-api "Actions").
	Highlight bool
	// Sound is the sound tweak's value, "" when there is none.
	Sound string
}

type condKind uint8

const (
	condNever condKind = iota // unknown or malformed: never matches
	condMatch
	condMatchSelf // event_match whose pattern is the owner's user ID
	condIs
	condContains
	condContainsSelf // event_property_contains of the owner's user ID
	condDisplayName
	condMemberCount
	condNotifPermission
	condRoomID // room rules
	condSender // sender rules
)

type compiledCond struct {
	kind condKind
	key  string // canonical flattened path; notifications key; room/user ID
	g    *glob
	body bool // key is content.body: match at word boundaries
	val  value
	op   string // room_member_count: "==", "<", ">", "<=", ">="
	n    int64
}

type compiledRule struct {
	conds []compiledCond
	res   Result
}

// Compiled is a ruleset ready for evaluation: disabled rules dropped,
// globs compiled, actions summed up.
type Compiled struct {
	rules     []compiledRule
	needsName bool
}

// NeedsDisplayName reports whether any enabled rule has a
// contains_display_name condition.
func (c *Compiled) NeedsDisplayName() bool { return c.needsName }

// defaultsOwner stands for the user in the shared compiled defaults.
const defaultsOwner = "@\x00:\x00"

// CompileDefaults compiles the server-default rules once for every user:
// the conditions naming the user compare with the recipient instead.
func CompileDefaults() *Compiled {
	rs := Defaults(defaultsOwner)
	return Compile(&rs, defaultsOwner)
}

// Compile compiles rs, the rules of owner. Conditions that name the owner
// exactly (the user's ID as an event_match pattern or an
// event_property_contains value, as in .m.rule.invite_for_me and
// .m.rule.is_user_mention) compare with the recipient's ID at evaluation,
// so the result may also be used for any user whose rules are the same
// with their own ID in the owner's place.
func Compile(rs *Ruleset, owner string) *Compiled {
	c := &Compiled{}
	ownerJSON, _ := json.Marshal(owner)
	selfOK := owner != "" && !strings.ContainsAny(owner, "*?")
	for _, k := range Kinds {
		for _, r := range rs.Rules(k) {
			if !r.Enabled {
				continue
			}
			cr := compiledRule{res: summarise(k, r)}
			switch k {
			case Override, Underride:
				for _, cond := range r.Conditions {
					cc := compileCond(cond, selfOK, owner, ownerJSON)
					c.needsName = c.needsName || cc.kind == condDisplayName
					cr.conds = append(cr.conds, cc)
				}
			case Content:
				if r.Pattern == nil {
					cr.conds = []compiledCond{{kind: condNever}}
				} else {
					cr.conds = []compiledCond{{kind: condMatch, key: "content.body", body: true, g: compileGlob(*r.Pattern)}}
				}
			case Room:
				cr.conds = []compiledCond{{kind: condRoomID, key: r.RuleID}}
			case Sender:
				cr.conds = []compiledCond{{kind: condSender, key: r.RuleID}}
			}
			c.rules = append(c.rules, cr)
		}
	}
	return c
}

func compileCond(cond Condition, selfOK bool, owner string, ownerJSON []byte) compiledCond {
	switch cond.Kind {
	case CondEventMatch:
		if cond.Pattern == nil || cond.Key == "" {
			break
		}
		key := canonicalPath(cond.Key)
		if selfOK && *cond.Pattern == owner {
			return compiledCond{kind: condMatchSelf, key: key}
		}
		return compiledCond{kind: condMatch, key: key, body: key == "content.body", g: compileGlob(*cond.Pattern)}
	case CondEventPropertyIs, CondEventPropertyContains:
		if cond.Key == "" || cond.Value == nil {
			break
		}
		v, ok := parseValue(cond.Value)
		if !ok {
			break
		}
		key := canonicalPath(cond.Key)
		if cond.Kind == CondEventPropertyIs {
			return compiledCond{kind: condIs, key: key, val: v}
		}
		if selfOK && bytes.Equal(bytes.TrimSpace(cond.Value), ownerJSON) {
			return compiledCond{kind: condContainsSelf, key: key}
		}
		return compiledCond{kind: condContains, key: key, val: v}
	case CondContainsDisplayName:
		return compiledCond{kind: condDisplayName}
	case CondRoomMemberCount:
		if op, n, ok := parseMemberCount(cond.Is); ok {
			return compiledCond{kind: condMemberCount, op: op, n: n}
		}
	case CondSenderNotifPermission:
		if cond.Key != "" {
			return compiledCond{kind: condNotifPermission, key: cond.Key}
		}
	}
	return compiledCond{kind: condNever}
}

// parseValue reads a condition's value: a string, an integer in the safe
// range, a boolean or null.
func parseValue(raw json.RawMessage) (value, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return value{}, false
	}
	return scalar(x)
}

// parseMemberCount reads room_member_count's "is": a decimal integer
// optionally prefixed by ==, <, >, >= or <=; no prefix means ==.
func parseMemberCount(is string) (op string, n int64, ok bool) {
	op = "=="
	for _, p := range []string{"==", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(is, p) {
			op, is = p, is[len(p):]
			break
		}
	}
	if is == "" || len(is) > 18 {
		return "", 0, false
	}
	for i := 0; i < len(is); i++ {
		if is[i] < '0' || is[i] > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.ParseInt(is, 10, 64)
	return op, n, err == nil
}

// summarise turns a rule's actions into a Result, stripping the historical
// actions (client-server-api "Historical Actions").
func summarise(k Kind, r Rule) Result {
	res := Result{Kind: k, RuleID: r.RuleID, Actions: StripHistorical(r.Actions)}
	for _, a := range res.Actions {
		switch {
		case a.Name == ActionNotify:
			res.Notify = true
		case a.Name == ActionSetTweak && a.Tweak == "highlight":
			res.Highlight = a.Value == nil || string(bytes.TrimSpace(a.Value)) == "true"
		case a.Name == ActionSetTweak && a.Tweak == "sound":
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				res.Sound = s
			}
		}
	}
	return res
}

// StripHistorical returns actions without dont_notify and coalesce, which
// clients and servers must ignore.
func StripHistorical(actions []Action) []Action {
	out := make([]Action, 0, len(actions))
	for _, a := range actions {
		if a.Name != ActionDontNotify && a.Name != ActionCoalesce {
			out = append(out, a)
		}
	}
	return out
}

// Evaluate returns the result of the first enabled rule that matches ev
// for r, in the order override, content, room, sender, underride; ok is
// false when none does. A user's own events never match: servers must not
// notify for them (client-server-api "Push Rules").
func (c *Compiled) Evaluate(ev *Event, r Recipient) (res Result, ok bool) {
	if r.UserID == ev.sender {
		return Result{}, false
	}
	self := strings.ToLower(r.UserID)
	for i := range c.rules {
		if c.rules[i].matches(ev, r, self) {
			return c.rules[i].res, true
		}
	}
	return Result{}, false
}

func (cr *compiledRule) matches(ev *Event, r Recipient, self string) bool {
	for i := range cr.conds {
		if !cr.conds[i].holds(ev, r, self) {
			return false
		}
	}
	return true
}

func (cc *compiledCond) holds(ev *Event, r Recipient, self string) bool {
	switch cc.kind {
	case condMatch:
		v, ok := ev.props[cc.key]
		if !ok || v.kind != valString {
			return false
		}
		if cc.body {
			return cc.g.matchWords(v.lower)
		}
		return cc.g.match(v.lower)
	case condMatchSelf:
		v, ok := ev.props[cc.key]
		return ok && v.kind == valString && v.lower == self
	case condIs:
		v, ok := ev.props[cc.key]
		return ok && v.equal(cc.val)
	case condContains, condContainsSelf:
		v, ok := ev.props[cc.key]
		if !ok || v.kind != valArray {
			return false
		}
		want := cc.val
		if cc.kind == condContainsSelf {
			want = value{kind: valString, s: r.UserID}
		}
		for _, e := range v.arr {
			if e.equal(want) {
				return true
			}
		}
		return false
	case condDisplayName:
		v, ok := ev.props["content.body"]
		return ok && v.kind == valString && containsWord(v.lower, strings.ToLower(r.DisplayName))
	case condMemberCount:
		return compare(int64(ev.room.MemberCount), cc.op, cc.n)
	case condNotifPermission:
		need, ok := ev.room.NotificationLevels[cc.key]
		if !ok {
			if cc.key != "room" {
				return false
			}
			need = 50
		}
		return ev.room.SenderPowerLevel >= need
	case condRoomID:
		return ev.roomID == cc.key
	case condSender:
		return ev.sender == cc.key
	}
	return false
}

func compare(have int64, op string, n int64) bool {
	switch op {
	case "<":
		return have < n
	case ">":
		return have > n
	case "<=":
		return have <= n
	case ">=":
		return have >= n
	}
	return have == n
}

// containsWord reports whether name occurs in body as a whole run of words:
// at word boundaries on both sides. An empty name never matches.
func containsWord(body, name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i+len(name) <= len(body); {
		j := strings.Index(body[i:], name)
		if j < 0 {
			return false
		}
		j += i
		if boundaryBefore(body, j) && boundaryAt(body, j+len(name)) {
			return true
		}
		i = j + 1
	}
	return false
}
