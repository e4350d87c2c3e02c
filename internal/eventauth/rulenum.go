package eventauth

import (
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// ruleNo renders the spec's rule number for a rule named by section and
// sub-rule names, in the numbering of v's own spec page: the same rule is
// 5.2.3 in room v1, 4.3.3 in v11 and 5.3.3 in v12, because rules were
// inserted and removed over time. Error messages carry it so that a
// rejection can be looked up on the right page.
//
// Sections: create, roomid, authevents, federate, aliases, member,
// nonmember, thirdpartyinvite, required, statekey, powerlevels, redaction.
func ruleNo(v *roomversion.Version, section string, sub ...string) string {
	n := []int{topRule(v, section)}
	switch section {
	case "create":
		n = append(n, createRule(v, sub...)...)
	case "authevents":
		n = append(n, authEventsRule(v, sub...)...)
	case "member":
		n = append(n, memberRule(v, sub...)...)
	case "powerlevels":
		n = append(n, powerLevelsRule(v, sub...)...)
	}
	parts := make([]string, len(n))
	for i, x := range n {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ".")
}

func topRule(v *roomversion.Version, section string) int {
	// Base numbering: room versions 6–11.
	base := map[string]int{
		"create": 1, "authevents": 2, "federate": 3, "member": 4, "nonmember": 5,
		"thirdpartyinvite": 6, "required": 7, "statekey": 8, "powerlevels": 9,
		"redaction": 10, "allow": 10,
	}[section]
	switch {
	case section == "roomid":
		return 2 // v12 only
	case section == "aliases":
		return 4 // v1–v5 only
	case v.SpecialCaseAliasesAuth && base >= 4:
		// v1–v5 have the aliases rule as 4; v1–v2 add redaction as 11.
		return base + 1
	case v.RoomIDFromCreateEvent() && base >= 2:
		// v12 inserted the room_id rule as 2.
		return base + 1
	}
	return base
}

func createRule(v *roomversion.Version, sub ...string) []int {
	if len(sub) == 0 {
		return nil
	}
	switch sub[0] {
	case "prev":
		return []int{1}
	case "roomid":
		return []int{2}
	case "version":
		return []int{3}
	case "creator", "additional":
		return []int{4}
	}
	return nil
}

func authEventsRule(v *roomversion.Version, sub ...string) []int {
	if len(sub) == 0 {
		return nil
	}
	n := map[string]int{"duplicate": 1, "selection": 2, "rejected": 3, "nocreate": 4, "roomid": 5}[sub[0]]
	return []int{n}
}

func memberRule(v *roomversion.Version, sub ...string) []int {
	if len(sub) == 0 {
		return nil
	}
	// Room v8+ inserted join_authorised_via_users_server as 2; v7 added
	// knock before "unknown".
	shift := 0
	if v.RestrictedJoins {
		shift = 1
	}
	var n int
	switch sub[0] {
	case "required":
		n = 1
	case "via":
		n = 2
	case "join":
		n = 2 + shift
	case "invite":
		n = 3 + shift
	case "leave":
		n = 4 + shift
	case "ban":
		n = 5 + shift
	case "knock":
		n = 6 + shift
	case "unknown":
		n = 6 + shift
		if v.Knocking {
			n++
		}
	}
	out := []int{n}
	if len(sub) < 2 {
		return out
	}
	switch sub[0] {
	case "join":
		m := map[string]int{"creator": 1, "sender": 2, "banned": 3, "invite": 4, "restricted": 5, "public": 5, "otherwise": 6}
		j := m[sub[1]]
		if v.RestrictedJoins && (sub[1] == "public" || sub[1] == "otherwise") {
			j++
		}
		out = append(out, j)
	case "invite":
		m := map[string]int{"thirdparty": 1, "sender": 2, "target": 3, "level": 4, "otherwise": 5}
		out = append(out, m[sub[1]])
	case "leave":
		m := map[string]int{"self": 1, "sender": 2, "banned": 3, "level": 4, "otherwise": 5}
		out = append(out, m[sub[1]])
	case "ban":
		m := map[string]int{"sender": 1, "level": 2, "otherwise": 3}
		out = append(out, m[sub[1]])
	case "knock":
		m := map[string]int{"joinrule": 1, "sender": 2, "membership": 3, "otherwise": 4}
		out = append(out, m[sub[1]])
	default:
		return out
	}
	// Third-party invite sub-rules: "thirdparty", "<n>".
	if len(sub) >= 3 {
		if k, err := strconv.Atoi(sub[2]); err == nil {
			out = append(out, k)
		}
	}
	return out
}

func powerLevelsRule(v *roomversion.Version, sub ...string) []int {
	if len(sub) == 0 {
		return nil
	}
	// v1–v9: 1 users, 2 no previous, 3 top-level, 4 events removed,
	// 5 events added, 6 users removed, 7 users added.
	// v10–v11 add 1 and 2 (integer checks) in front; v12 adds 4 (creators).
	var n int
	switch sub[0] {
	case "ints":
		n = 1
	case "maps":
		n = 2
	case "users":
		n = 1
		if v.IntegerPowerLevels {
			n = 3
		}
	case "creators":
		n = 4
	default:
		order := map[string]int{"noprevious": 2, "toplevel": 3, "eventsold": 4, "eventsnew": 5, "usersold": 6, "usersnew": 7}
		n = order[sub[0]]
		if v.IntegerPowerLevels {
			n += 2
		}
		if v.PrivilegedCreators {
			n++
		}
	}
	return []int{n}
}
