package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/pushrules"
	"github.com/myelin-chat/myelin/internal/server/servertest"
)

const pr = "/_matrix/client/v3/pushrules/global/"

func ruleIDs(rules []pushrules.Rule) []string {
	out := []string{}
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return out
}

// pushRulesInSync returns the m.push_rules content of a sync's account
// data, and whether there was one.
func pushRulesInSync(t *testing.T, resp syncResp) (pushrules.Ruleset, bool) {
	t.Helper()
	for _, raw := range resp.AccountData.Events {
		var e struct {
			Type    string             `json:"type"`
			Content pushrules.Document `json:"content"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == "m.push_rules" {
			return e.Content.Global, true
		}
	}
	return pushrules.Ruleset{}, false
}

// A new user has the spec's default rules, in the spec's order, from
// GET /pushrules/, GET /pushrules/global/, the account data API and their
// first /sync (client-server-api "Push Rules: Events").
func TestPushRules_NewUserHasTheDefaults(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		want := pushrules.Defaults(alice.UserID)
		var all pushrules.Document
		alice.MustDo("GET", "/_matrix/client/v3/pushrules/", nil, &all)
		if !reflect.DeepEqual(all.Global, want) {
			t.Errorf("GET /pushrules/ = %+v", all.Global)
		}
		var global pushrules.Ruleset
		alice.MustDo("GET", "/_matrix/client/r0/pushrules/global/", nil, &global)
		if !reflect.DeepEqual(global, want) {
			t.Errorf("GET /pushrules/global/ = %+v", global)
		}
		var ad pushrules.Document
		alice.MustDo("GET", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/m.push_rules", nil, &ad)
		if !reflect.DeepEqual(ad.Global, want) {
			t.Errorf("account data m.push_rules = %+v", ad.Global)
		}
		var first syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
		got, ok := pushRulesInSync(t, first)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("initial sync m.push_rules (present %v) = %+v", ok, got)
		}
		if ids := ruleIDs(got.Underride); len(ids) != 5 || ids[3] != ".m.rule.message" {
			t.Errorf("underride = %q", ids)
		}
		// Raw JSON: every kind is an array, even when empty.
		raw := alice.MustDo("GET", "/_matrix/client/v3/pushrules/global/", nil, nil)
		var kinds map[string]json.RawMessage
		_ = json.Unmarshal(raw, &kinds)
		for _, k := range pushrules.Kinds {
			if len(kinds[string(k)]) == 0 || kinds[string(k)][0] != '[' {
				t.Errorf("%s = %s", k, kinds[string(k)])
			}
		}
	})
}

// PUT with before and after (client-server-api PUT
// /pushrules/global/{kind}/{ruleId}), GET of one rule, DELETE, and the
// change reaching /sync as m.push_rules.
func TestPushRules_CRUDAndOrdering(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		var first syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)

		rule := map[string]any{"actions": []any{"notify"}, "conditions": []any{
			map[string]any{"kind": "event_match", "key": "content.body", "pattern": "beer"},
			map[string]any{"kind": "room_member_count", "is": "<=10"},
		}}
		alice.MustDo("PUT", pr+"override/a", rule, nil)
		alice.MustDo("PUT", pr+"override/b", rule, nil)
		alice.MustDo("PUT", pr+"override/c?after=a", rule, nil)
		alice.MustDo("PUT", pr+"override/d?before=a", rule, nil)
		alice.MustDo("PUT", pr+"override/e?before=b&after=c", rule, nil)
		var global pushrules.Ruleset
		alice.MustDo("GET", pr, nil, &global)
		wantOverride := append([]string{".m.rule.master", "e", "b", "d", "a", "c"}, ruleIDs(pushrules.Defaults(alice.UserID).Override)[1:]...)
		if got := ruleIDs(global.Override); !reflect.DeepEqual(got, wantOverride) {
			t.Errorf("override order =\n%q\nwant\n%q", got, wantOverride)
		}

		var got pushrules.Rule
		alice.MustDo("GET", pr+"override/a", nil, &got)
		if got.RuleID != "a" || got.Default || !got.Enabled || len(got.Conditions) != 2 || len(got.Actions) != 1 {
			t.Errorf("GET rule a = %+v", got)
		}

		// The spec's examples: a content rule, another placed before it,
		// a room rule and a sender rule.
		alice.MustDo("PUT", pr+"content/SSByZWFsbHkgbGlrZSBjYWtl", map[string]any{"pattern": "cake",
			"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "cakealarm.wav"}}}, nil)
		alice.MustDo("PUT", pr+"content/U3BvbmdlIGNha2UgaXMgYmVzdA?before=SSByZWFsbHkgbGlrZSBjYWtl",
			map[string]any{"pattern": "cake*lie", "actions": []any{"notify"}}, nil)
		alice.MustDo("PUT", pr+"room/"+url.PathEscape("!dj234r78wl45Gh4D:matrix.org"), map[string]any{"actions": []any{}}, nil)
		alice.MustDo("PUT", pr+"sender/"+url.PathEscape("@spambot:matrix.org"), map[string]any{"actions": []any{}}, nil)
		global = pushrules.Ruleset{}
		alice.MustDo("GET", pr, nil, &global)
		if ids := ruleIDs(global.Content); !reflect.DeepEqual(ids, []string{"U3BvbmdlIGNha2UgaXMgYmVzdA", "SSByZWFsbHkgbGlrZSBjYWtl"}) {
			t.Errorf("content = %q", ids)
		}
		if c := global.Content[1]; c.Pattern == nil || *c.Pattern != "cake" || c.Conditions != nil {
			t.Errorf("content rule = %+v", c)
		}
		if ids := ruleIDs(global.Room); len(ids) != 1 || ids[0] != "!dj234r78wl45Gh4D:matrix.org" {
			t.Errorf("room = %q", ids)
		}
		if ids := ruleIDs(global.Sender); len(ids) != 1 || ids[0] != "@spambot:matrix.org" {
			t.Errorf("sender = %q", ids)
		}

		alice.MustDo("DELETE", pr+"override/d", nil, nil)
		global = pushrules.Ruleset{} // decoding into used slices would keep old fields
		alice.MustDo("GET", pr, nil, &global)
		if got := ruleIDs(global.Override)[:5]; !reflect.DeepEqual(got, []string{".m.rule.master", "e", "b", "a", "c"}) {
			t.Errorf("after delete = %q", got)
		}

		var next syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync?timeout=5000&since="+first.NextBatch, nil, &next)
		inSync, ok := pushRulesInSync(t, next)
		if !ok || !reflect.DeepEqual(inSync, global) {
			t.Errorf("incremental sync m.push_rules (present %v) = %+v", ok, inSync)
		}

		// Someone else's rules are their own.
		bob := s.Register("bob")
		var bobs pushrules.Ruleset
		bob.MustDo("GET", pr, nil, &bobs)
		if !reflect.DeepEqual(bobs, pushrules.Defaults(bob.UserID)) {
			t.Errorf("bob's rules = %+v", bobs)
		}
	})
}

// enabled and actions work on user rules and server-default rules alike.
func TestPushRules_EnabledAndActions(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		var en struct {
			Enabled bool `json:"enabled"`
		}
		alice.MustDo("GET", pr+"override/.m.rule.master/enabled", nil, &en)
		if en.Enabled {
			t.Error("master rule enabled by default")
		}
		alice.MustDo("PUT", pr+"override/.m.rule.master/enabled", map[string]any{"enabled": true}, nil)
		alice.MustDo("GET", pr+"override/.m.rule.master/enabled", nil, &en)
		if !en.Enabled {
			t.Error("master rule still disabled")
		}
		alice.MustDo("PUT", pr+"underride/.m.rule.message/actions", map[string]any{"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "bing"}}}, nil)
		var acts struct {
			Actions []json.RawMessage `json:"actions"`
		}
		alice.MustDo("GET", pr+"underride/.m.rule.message/actions", nil, &acts)
		if len(acts.Actions) != 2 || string(acts.Actions[1]) != `{"set_tweak":"sound","value":"bing"}` {
			t.Errorf("actions = %s", acts.Actions)
		}
		// The historical actions are stripped.
		alice.MustDo("PUT", pr+"underride/.m.rule.encrypted/actions", map[string]any{"actions": []any{"dont_notify"}}, nil)
		alice.MustDo("GET", pr+"underride/.m.rule.encrypted/actions", nil, &acts)
		if len(acts.Actions) != 0 {
			t.Errorf("dont_notify kept: %s", acts.Actions)
		}
		// A rule of the user's own, disabled and re-written, stays disabled.
		alice.MustDo("PUT", pr+"override/mine", map[string]any{"actions": []any{"notify"}}, nil)
		alice.MustDo("PUT", pr+"override/mine/enabled", map[string]any{"enabled": false}, nil)
		alice.MustDo("PUT", pr+"override/mine", map[string]any{"actions": []any{}}, nil)
		var mine pushrules.Rule
		alice.MustDo("GET", pr+"override/mine", nil, &mine)
		if mine.Enabled || len(mine.Actions) != 0 || mine.Conditions == nil {
			t.Errorf("mine = %+v", mine)
		}
		// The defaults keep their places and stay defaults.
		var global pushrules.Ruleset
		alice.MustDo("GET", pr, nil, &global)
		if r := global.Underride[3]; r.RuleID != ".m.rule.message" || !r.Default || len(r.Actions) != 2 {
			t.Errorf("underride[3] = %+v", r)
		}
	})
}

func TestPushRules_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		alice.MustDo("PUT", pr+"override/mine", map[string]any{"actions": []any{"notify"}}, nil)
		notify := map[string]any{"actions": []any{"notify"}}
		for _, c := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"PUT a server-default rule", "PUT", pr + "override/.m.rule.master", notify, 400, "M_INVALID_PARAM"},
			{"PUT a new rule ID with a dot", "PUT", pr + "override/.mine", notify, 400, "M_INVALID_PARAM"},
			{"DELETE a server-default rule", "DELETE", pr + "underride/.m.rule.message", nil, 400, "M_INVALID_PARAM"},
			{"GET an unknown rule", "GET", pr + "override/nope", nil, 404, "M_NOT_FOUND"},
			{"GET a rule under another kind", "GET", pr + "underride/mine", nil, 404, "M_NOT_FOUND"},
			{"DELETE an unknown rule", "DELETE", pr + "override/nope", nil, 404, "M_NOT_FOUND"},
			{"GET enabled of an unknown rule", "GET", pr + "override/nope/enabled", nil, 404, "M_NOT_FOUND"},
			{"PUT enabled of an unknown rule", "PUT", pr + "override/nope/enabled", map[string]any{"enabled": true}, 404, "M_NOT_FOUND"},
			{"GET actions of an unknown rule", "GET", pr + "override/nope/actions", nil, 404, "M_NOT_FOUND"},
			{"PUT actions of an unknown rule", "PUT", pr + "override/nope/actions", notify, 404, "M_NOT_FOUND"},
			{"before an unknown rule", "PUT", pr + "override/x?before=nope", notify, 400, "M_UNKNOWN"},
			{"after an unknown rule", "PUT", pr + "override/x?after=nope", notify, 400, "M_UNKNOWN"},
			{"after a server-default rule", "PUT", pr + "override/x?after=.m.rule.master", notify, 400, "M_INVALID_PARAM"},
			{"slash in the rule ID", "PUT", pr + "override/a%2Fb", notify, 400, "M_INVALID_PARAM"},
			{"backslash in the rule ID", "PUT", pr + "override/a%5Cb", notify, 400, "M_INVALID_PARAM"},
			{"unknown kind", "PUT", pr + "everything/x", notify, 400, "M_INVALID_PARAM"},
			{"GET of an unknown kind", "GET", pr + "everything/x", nil, 400, "M_INVALID_PARAM"},
			{"no actions", "PUT", pr + "override/x", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"unknown action", "PUT", pr + "override/x", map[string]any{"actions": []any{"sing"}}, 400, "M_BAD_JSON"},
			{"bad condition", "PUT", pr + "override/x", map[string]any{"actions": []any{}, "conditions": []any{map[string]any{"kind": "event_match"}}}, 400, "M_BAD_JSON"},
			{"content rule without pattern", "PUT", pr + "content/x", notify, 400, "M_MISSING_PARAM"},
			{"not JSON", "PUT", pr + "override/x", "{", 400, "M_NOT_JSON"},
			{"enabled not a boolean", "PUT", pr + "override/mine/enabled", map[string]any{"enabled": "yes"}, 400, "M_BAD_JSON"},
			{"enabled missing", "PUT", pr + "override/mine/enabled", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"actions not an array", "PUT", pr + "override/mine/actions", map[string]any{"actions": "notify"}, 400, "M_BAD_JSON"},
			{"m.push_rules through the account data API", "PUT", "/_matrix/client/v3/user/" + url.PathEscape(alice.UserID) + "/account_data/m.push_rules",
				map[string]any{"global": map[string]any{}}, 400, "M_UNKNOWN"},
		} {
			status, raw := alice.Do(c.method, c.path, c.body, nil)
			if status != c.status || servertest.Errcode(raw) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, status, raw, c.status, c.code)
			}
		}
		if status, raw := s.Anonymous().Do("GET", "/_matrix/client/v3/pushrules/", nil, nil); status != http.StatusUnauthorized {
			t.Errorf("without a token: %d %s", status, raw)
		}
		// Nothing above changed the rules.
		var global pushrules.Ruleset
		alice.MustDo("GET", pr, nil, &global)
		want := pushrules.Defaults(alice.UserID)
		want.Override = append(want.Override[:1], append([]pushrules.Rule{{RuleID: "mine", Enabled: true,
			Conditions: []pushrules.Condition{}, Actions: []pushrules.Action{pushrules.Notify()}}}, want.Override[1:]...)...)
		if !reflect.DeepEqual(global, want) {
			t.Errorf("rules after the failed requests = %+v", global)
		}
	})
}

// Concurrent edits of one user's rules are not lost: each is a
// read-modify-write of the whole ruleset, serialised per user.
func TestPushRules_ConcurrentEditsAllLand(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		const n = 16
		done := make(chan int, n)
		for i := 0; i < n; i++ {
			go func(i int) {
				status, _ := alice.Do("PUT", pr+"override/r"+strconv.Itoa(i), map[string]any{"actions": []any{"notify"}}, nil)
				done <- status
			}(i)
		}
		for i := 0; i < n; i++ {
			if status := <-done; status != http.StatusOK {
				t.Errorf("PUT: %d", status)
			}
		}
		var global pushrules.Ruleset
		alice.MustDo("GET", pr, nil, &global)
		if got := len(global.Override) - len(pushrules.Defaults(alice.UserID).Override); got != n {
			t.Errorf("%d of %d rules stored: %q", got, n, ruleIDs(global.Override))
		}
	})
}

// A user's rules are bounded in size: an edit that would store more than
// push.MaxDocument bytes is refused and changes nothing.
func TestPushRules_SizeBounded(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		big := strings.Repeat("x", 1000)
		conds := []any{}
		for i := 0; i < 30; i++ {
			conds = append(conds, map[string]any{"kind": "event_match", "key": "content.body", "pattern": big})
		}
		var status int
		var raw []byte
		n := 0
		for ; n < 20; n++ {
			status, raw = alice.Do("PUT", pr+"override/big"+strconv.Itoa(n), map[string]any{"actions": []any{}, "conditions": conds}, nil)
			if status != http.StatusOK {
				break
			}
		}
		if status != http.StatusRequestEntityTooLarge || servertest.Errcode(raw) != "M_TOO_LARGE" || n == 0 {
			t.Fatalf("after %d rules: %d %s", n, status, raw)
		}
		var global pushrules.Ruleset
		alice.MustDo("GET", pr, nil, &global)
		if got := len(global.Override) - len(pushrules.Defaults(alice.UserID).Override); got != n {
			t.Errorf("%d rules stored, want the %d accepted", got, n)
		}
	})
}
