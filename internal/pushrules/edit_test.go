package pushrules

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
)

func ids(rules []Rule) []string {
	out := []string{}
	for _, r := range rules {
		out = append(out, r.RuleID)
	}
	return out
}

func notifyRule() NewRule { return NewRule{Actions: []Action{Notify()}, Conditions: []Condition{}} }

// PUT ordering (client-server-api PUT /pushrules/global/{kind}/{ruleId}):
// a new rule without before/after is the most important user rule; before
// and after place it next to a user rule; both given, before wins; the
// master rule stays first and the other defaults below the user's rules.
func TestPut_Ordering(t *testing.T) {
	rs := Defaults(alice)
	steps := []struct {
		id, before, after string
		want              []string
	}{
		{"a", "", "", []string{"a"}},
		{"b", "", "", []string{"b", "a"}},
		{"c", "", "a", []string{"b", "a", "c"}},
		{"d", "a", "", []string{"b", "d", "a", "c"}},
		{"e", "b", "c", []string{"e", "b", "d", "a", "c"}}, // before wins
		{"a", "", "", []string{"e", "b", "d", "a", "c"}},   // an update keeps its place
		{"a", "e", "", []string{"a", "e", "b", "d", "c"}},  // ... unless moved
		{"e", "", "c", []string{"a", "b", "d", "c", "e"}},
	}
	for _, s := range steps {
		if err := Put(&rs, Override, s.id, notifyRule(), s.before, s.after); err != nil {
			t.Fatalf("put %s: %v", s.id, err)
		}
		got := ids(rs.Override)
		want := append(append([]string{".m.rule.master"}, s.want...), ids(Defaults(alice).Override)[1:]...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after put %s (before=%q after=%q):\n got %q\nwant %q", s.id, s.before, s.after, got, want)
		}
	}
	// Underride user rules rank above the default underrides.
	if err := Put(&rs, Underride, "u", notifyRule(), "", ""); err != nil {
		t.Fatal(err)
	}
	if rs.Underride[0].RuleID != "u" {
		t.Errorf("underride = %q", ids(rs.Underride))
	}
}

func TestPut_KeepsEnabledOnUpdate(t *testing.T) {
	rs := Defaults(alice)
	_ = Put(&rs, Override, "a", notifyRule(), "", "")
	_ = SetEnabled(&rs, Override, "a", false)
	_ = Put(&rs, Override, "a", NewRule{Actions: []Action{}, Conditions: []Condition{}}, "", "")
	r, _ := rs.Find(Override, "a")
	if r.Enabled || len(r.Actions) != 0 {
		t.Errorf("updated rule = %+v", r)
	}
	_ = Put(&rs, Override, "new", notifyRule(), "", "")
	if r, _ := rs.Find(Override, "new"); !r.Enabled || r.Default {
		t.Errorf("new rule = %+v (must be enabled by default)", r)
	}
}

func code(err error) string { return merr.CodeOf(err) }

func TestEdits_Errors(t *testing.T) {
	rs := Defaults(alice)
	_ = Put(&rs, Override, "mine", notifyRule(), "", "")
	for _, c := range []struct {
		name string
		err  error
		kind error
		code string
	}{
		{"put a dot rule", Put(&rs, Override, ".m.rule.message", notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"put a new dot rule", Put(&rs, Override, ".mine", notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"slash in ID", Put(&rs, Override, "a/b", notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"backslash in ID", Put(&rs, Override, `a\b`, notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"empty ID", Put(&rs, Override, "", notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"unknown kind", Put(&rs, "global", "x", notifyRule(), "", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"before unknown", Put(&rs, Override, "x", notifyRule(), "nope", ""), merr.ErrBadRequest, merr.CodeUnknown},
		{"after unknown", Put(&rs, Override, "x", notifyRule(), "", "nope"), merr.ErrBadRequest, merr.CodeUnknown},
		{"before a default", Put(&rs, Override, "x", notifyRule(), ".m.rule.master", ""), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"before a rule of another kind", Put(&rs, Underride, "x", notifyRule(), "mine", ""), merr.ErrBadRequest, merr.CodeUnknown},
		{"delete a default", Delete(&rs, Override, ".m.rule.master"), merr.ErrBadRequest, merr.CodeInvalidParam},
		{"delete unknown", Delete(&rs, Override, "nope"), merr.ErrNotFound, merr.CodeNotFound},
		{"delete of another kind", Delete(&rs, Underride, "mine"), merr.ErrNotFound, merr.CodeNotFound},
		{"enable unknown", SetEnabled(&rs, Override, "nope", true), merr.ErrNotFound, merr.CodeNotFound},
		{"actions unknown", SetActions(&rs, Content, ".m.rule.master", nil), merr.ErrNotFound, merr.CodeNotFound},
	} {
		if !errors.Is(c.err, c.kind) || code(c.err) != c.code {
			t.Errorf("%s: %v, want %v %s", c.name, c.err, c.kind, c.code)
		}
	}
	// Nothing above changed the rules.
	if got := ids(rs.Override); len(got) != len(Defaults(alice).Override)+1 || got[1] != "mine" {
		t.Errorf("rules changed by failed edits: %q", got)
	}
	if _, err := Get(&rs, Override, "mine"); err != nil {
		t.Error(err)
	}
	if err := Delete(&rs, Override, "mine"); err != nil {
		t.Error(err)
	}
	if _, err := Get(&rs, Override, "mine"); code(err) != merr.CodeNotFound {
		t.Errorf("get after delete: %v", err)
	}
}

func TestParseNewRule(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		body string
		code string // "" for accepted
	}{
		{Override, `{"actions":["notify"]}`, ""},
		{Override, `{"actions":[],"conditions":[{"kind":"event_match","key":"content.body","pattern":"beer"},{"kind":"room_member_count","is":"<=10"}]}`, ""},
		{Override, `{"actions":["notify"],"conditions":[{"kind":"org.example.future","x":1}]}`, ""},
		{Content, `{"pattern":"cake*lie","actions":["notify"]}`, ""},
		{Room, `{"actions":[]}`, ""},
		{Override, `{}`, merr.CodeMissingParam},
		{Override, `{"actions":"notify"}`, merr.CodeBadJSON},
		{Override, `{"actions":["sing"]}`, merr.CodeBadJSON},
		{Override, `{"actions":[{"tweak":"x"}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[{"set_tweak":""}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":{}}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":[{"key":"type"}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":[{"kind":"event_match","key":"type"}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":[{"kind":"event_property_is","key":"type","value":{}}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":[{"kind":"event_property_is","key":"type","value":9007199254740992}]}`, merr.CodeBadJSON},
		{Override, `{"actions":[],"conditions":[{"kind":"room_member_count","is":"=>2"}]}`, merr.CodeBadJSON},
		{Content, `{"actions":[]}`, merr.CodeMissingParam},
		{Content, `{"actions":[],"pattern":5}`, merr.CodeBadJSON},
		{Override, `[]`, merr.CodeBadJSON},
	} {
		_, err := ParseNewRule(c.kind, []byte(c.body))
		if code(err) != c.code {
			t.Errorf("%s %s: %v, want %q", c.kind, c.body, err, c.code)
		}
	}
	nr, _ := ParseNewRule(Override, []byte(`{"actions":["dont_notify","notify"],"pattern":"ignored"}`))
	if len(nr.Actions) != 1 || nr.Pattern != nil || nr.Conditions == nil {
		t.Errorf("parsed = %+v", nr)
	}
}

// Merge puts what was stored over this version's defaults.
func TestMerge(t *testing.T) {
	rs := Defaults(alice)
	_ = Put(&rs, Override, "mine", notifyRule(), "", "")
	_ = SetEnabled(&rs, Underride, ".m.rule.message", false)
	_ = SetActions(&rs, Override, ".m.rule.reaction", []Action{Notify()})
	// What was stored: an old default this version dropped, a duplicate,
	// and the invite rule of someone else (a stored default's conditions
	// are never taken).
	rs.Override = append(rs.Override, Rule{RuleID: ".m.rule.contains_user_name", Default: true, Enabled: true},
		Rule{RuleID: "mine", Enabled: true, Conditions: []Condition{}})
	rs.Override[3].Conditions = nil
	raw, _ := json.Marshal(Document{Global: rs})
	var doc Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	got := Merge(&doc.Global, alice)
	want := Defaults(alice)
	_ = Put(&want, Override, "mine", notifyRule(), "", "")
	_ = SetEnabled(&want, Underride, ".m.rule.message", false)
	_ = SetActions(&want, Override, ".m.rule.reaction", []Action{Notify()})
	if !reflect.DeepEqual(got, want) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		t.Errorf("merged\n%s\nwant\n%s", a, b)
	}
	if !reflect.DeepEqual(Merge(nil, alice), Defaults(alice)) {
		t.Error("nothing stored must give the defaults")
	}
}
