package eventauth

import (
	"strconv"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Error messages cite rules by the numbers of each room version's own spec
// page. These expectations were read off the pages: fragments/v1-auth-rules.md
// (v1–v2), v3-auth-rules.md (v3–v5), v6.md, v7.md, fragments/v8-auth-rules.md
// (v8–v9), v10.md, v11.md, v12.md. Other tests use ruleNo to name the rule
// they expect, so this table is what ties them to the spec's text.
func TestRuleNo_MatchesEachVersionsPage(t *testing.T) {
	type rule struct {
		section string
		sub     []string
	}
	rules := []struct {
		name string
		r    rule
		// want by room version 1..12
		want [12]string
	}{
		{"create: prev_events", rule{"create", []string{"prev"}},
			[12]string{"1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1", "1.1"}},
		{"create: creator / additional_creators", rule{"create", []string{"creator"}},
			[12]string{"1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4", "1.4"}},
		{"auth events: duplicates", rule{"authevents", []string{"duplicate"}},
			[12]string{"2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "2.1", "3.1"}},
		{"auth events: room_id", rule{"authevents", []string{"roomid"}},
			[12]string{"2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "2.5", "3.5"}},
		{"m.federate", rule{"federate", nil},
			[12]string{"3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "4"}},
		{"join: banned", rule{"member", []string{"join", "banned"}},
			[12]string{"5.2.3", "5.2.3", "5.2.3", "5.2.3", "5.2.3", "4.2.3", "4.2.3", "4.3.3", "4.3.3", "4.3.3", "4.3.3", "5.3.3"}},
		{"join: public is the last allow", rule{"member", []string{"join", "public"}},
			[12]string{"5.2.5", "5.2.5", "5.2.5", "5.2.5", "5.2.5", "4.2.5", "4.2.5", "4.3.6", "4.3.6", "4.3.6", "4.3.6", "5.3.6"}},
		{"join_authorised_via_users_server", rule{"member", []string{"via"}},
			[12]string{"", "", "", "", "", "", "", "4.2", "4.2", "4.2", "4.2", "5.2"}},
		{"third-party invite: signature", rule{"member", []string{"invite", "thirdparty", "8"}},
			[12]string{"5.3.1.8", "5.3.1.8", "5.3.1.8", "5.3.1.8", "5.3.1.8", "4.3.1.8", "4.3.1.8", "4.4.1.8", "4.4.1.8", "4.4.1.8", "4.4.1.8", "5.4.1.8"}},
		{"leave: unban needs ban level", rule{"member", []string{"leave", "banned"}},
			[12]string{"5.4.3", "5.4.3", "5.4.3", "5.4.3", "5.4.3", "4.4.3", "4.4.3", "4.5.3", "4.5.3", "4.5.3", "4.5.3", "5.5.3"}},
		{"ban", rule{"member", []string{"ban", "level"}},
			[12]string{"5.5.2", "5.5.2", "5.5.2", "5.5.2", "5.5.2", "4.5.2", "4.5.2", "4.6.2", "4.6.2", "4.6.2", "4.6.2", "5.6.2"}},
		{"knock: join rule", rule{"member", []string{"knock", "joinrule"}},
			[12]string{"", "", "", "", "", "", "4.6.1", "4.7.1", "4.7.1", "4.7.1", "4.7.1", "5.7.1"}},
		{"unknown membership", rule{"member", []string{"unknown"}},
			[12]string{"5.6", "5.6", "5.6", "5.6", "5.6", "4.6", "4.7", "4.8", "4.8", "4.8", "4.8", "5.8"}},
		{"sender not joined", rule{"nonmember", nil},
			[12]string{"6", "6", "6", "6", "6", "5", "5", "5", "5", "5", "5", "6"}},
		{"required power level", rule{"required", nil},
			[12]string{"8", "8", "8", "8", "8", "7", "7", "7", "7", "7", "7", "8"}},
		{"state_key of another user", rule{"statekey", nil},
			[12]string{"9", "9", "9", "9", "9", "8", "8", "8", "8", "8", "8", "9"}},
		{"power levels: users well-formed", rule{"powerlevels", []string{"users"}},
			[12]string{"10.1", "10.1", "10.1", "10.1", "10.1", "9.1", "9.1", "9.1", "9.1", "9.3", "9.3", "10.3"}},
		{"power levels: no previous event", rule{"powerlevels", []string{"noprevious"}},
			[12]string{"10.2", "10.2", "10.2", "10.2", "10.2", "9.2", "9.2", "9.2", "9.2", "9.4", "9.4", "10.5"}},
		{"power levels: users removed", rule{"powerlevels", []string{"usersold"}},
			[12]string{"10.6", "10.6", "10.6", "10.6", "10.6", "9.6", "9.6", "9.6", "9.6", "9.8", "9.8", "10.9"}},
		{"power levels: users added", rule{"powerlevels", []string{"usersnew"}},
			[12]string{"10.7", "10.7", "10.7", "10.7", "10.7", "9.7", "9.7", "9.7", "9.7", "9.9", "9.9", "10.10"}},
		{"redaction (v1–v2)", rule{"redaction", nil},
			[12]string{"11", "11", "", "", "", "", "", "", "", "", "", ""}},
	}
	for _, c := range rules {
		for i, want := range c.want {
			if want == "" {
				continue
			}
			v := roomversion.MustGet(roomversion.ID(strconv.Itoa(i + 1)))
			if got := ruleNo(v, c.r.section, c.r.sub...); got != want {
				t.Errorf("%s in v%d: rule %s, want %s", c.name, i+1, got, want)
			}
		}
	}
}

// Every rejection wraps ErrNotAllowed and says "rule N: …".
func TestReject_Format(t *testing.T) {
	err := reject("4.3.3", "sender is %s", "banned")
	if !strings.HasSuffix(err.Error(), "rule 4.3.3: sender is banned") {
		t.Errorf("got %q", err)
	}
}
