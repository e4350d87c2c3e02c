package pushrules

import "encoding/json"

// The server-default rules of client-server-api "Predefined Rules" (v1.19),
// in the spec's order. The spec of v1.17 removed the legacy rules that
// looked for mentions in the body (.m.rule.contains_display_name,
// .m.rule.contains_user_name, .m.rule.roomnotif), so they are not here; the
// contains_display_name condition is still evaluated for users' own rules.

// masterRuleID is the one default override rule that ranks above the
// user's own override rules ("Unlike other server-default rules, this one
// has always a higher priority than other rules, even user defined ones").
const masterRuleID = ".m.rule.master"

func str(s string) *string { return &s }

func eventMatch(key, pattern string) Condition {
	return Condition{Kind: CondEventMatch, Key: key, Pattern: str(pattern)}
}

var (
	soundDefault = Tweak("sound", json.RawMessage(`"default"`))
	highlight    = Tweak("highlight", nil)
)

// Defaults returns the server-default rules for userID, all enabled except
// .m.rule.master, with no user rules.
func Defaults(userID string) Ruleset {
	quoted, _ := json.Marshal(userID)
	return Ruleset{
		Override: []Rule{
			{RuleID: masterRuleID, Enabled: false, Conditions: []Condition{}, Actions: []Action{}},
			{RuleID: ".m.rule.suppress_notices", Conditions: []Condition{
				eventMatch("content.msgtype", "m.notice"),
			}, Actions: []Action{}},
			{RuleID: ".m.rule.invite_for_me", Conditions: []Condition{
				eventMatch("type", "m.room.member"),
				eventMatch("content.membership", "invite"),
				eventMatch("state_key", userID),
			}, Actions: []Action{Notify(), soundDefault}},
			{RuleID: ".m.rule.member_event", Conditions: []Condition{
				eventMatch("type", "m.room.member"),
			}, Actions: []Action{}},
			{RuleID: ".m.rule.is_user_mention", Conditions: []Condition{
				{Kind: CondEventPropertyContains, Key: `content.m\.mentions.user_ids`, Value: quoted},
			}, Actions: []Action{Notify(), soundDefault, highlight}},
			{RuleID: ".m.rule.is_room_mention", Conditions: []Condition{
				{Kind: CondEventPropertyIs, Key: `content.m\.mentions.room`, Value: json.RawMessage(`true`)},
				{Kind: CondSenderNotifPermission, Key: "room"},
			}, Actions: []Action{Notify(), highlight}},
			{RuleID: ".m.rule.tombstone", Conditions: []Condition{
				eventMatch("type", "m.room.tombstone"),
				eventMatch("state_key", ""),
			}, Actions: []Action{Notify(), highlight}},
			{RuleID: ".m.rule.reaction", Conditions: []Condition{
				eventMatch("type", "m.reaction"),
			}, Actions: []Action{}},
			{RuleID: ".m.rule.room.server_acl", Conditions: []Condition{
				eventMatch("type", "m.room.server_acl"),
				eventMatch("state_key", ""),
			}, Actions: []Action{}},
			{RuleID: ".m.rule.suppress_edits", Conditions: []Condition{
				{Kind: CondEventPropertyIs, Key: `content.m\.relates_to.rel_type`, Value: json.RawMessage(`"m.replace"`)},
			}, Actions: []Action{}},
		},
		Content: []Rule{},
		Room:    []Rule{},
		Sender:  []Rule{},
		Underride: []Rule{
			{RuleID: ".m.rule.call", Conditions: []Condition{
				eventMatch("type", "m.call.invite"),
			}, Actions: []Action{Notify(), Tweak("sound", json.RawMessage(`"ring"`))}},
			{RuleID: ".m.rule.encrypted_room_one_to_one", Conditions: []Condition{
				{Kind: CondRoomMemberCount, Is: "2"},
				eventMatch("type", "m.room.encrypted"),
			}, Actions: []Action{Notify(), soundDefault}},
			{RuleID: ".m.rule.room_one_to_one", Conditions: []Condition{
				{Kind: CondRoomMemberCount, Is: "2"},
				eventMatch("type", "m.room.message"),
			}, Actions: []Action{Notify(), soundDefault}},
			{RuleID: ".m.rule.message", Conditions: []Condition{
				eventMatch("type", "m.room.message"),
			}, Actions: []Action{Notify()}},
			{RuleID: ".m.rule.encrypted", Conditions: []Condition{
				eventMatch("type", "m.room.encrypted"),
			}, Actions: []Action{Notify()}},
		},
	}.markDefaults()
}

// markDefaults sets Default on every rule and Enabled on all but the
// master rule.
func (rs Ruleset) markDefaults() Ruleset {
	for _, k := range Kinds {
		for i := range *rs.list(k) {
			r := &(*rs.list(k))[i]
			r.Default = true
			r.Enabled = r.RuleID != masterRuleID
		}
	}
	return rs
}
