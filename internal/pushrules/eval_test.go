package pushrules

import (
	"encoding/json"
	"testing"
)

const alice = "@alice:example.org"

func mustPrepare(t testing.TB, ev string, room RoomContext) *Event {
	t.Helper()
	e, err := Prepare([]byte(ev), room)
	if err != nil {
		t.Fatalf("Prepare(%s): %v", ev, err)
	}
	return e
}

// holds compiles one override rule with the given condition and reports
// whether it matches ev for alice.
func holds(t *testing.T, cond string, ev *Event, r Recipient) bool {
	t.Helper()
	var c Condition
	if err := json.Unmarshal([]byte(cond), &c); err != nil {
		t.Fatal(err)
	}
	rs := Ruleset{Override: []Rule{{RuleID: "x", Enabled: true, Conditions: []Condition{c}, Actions: []Action{Notify()}}}}
	_, ok := Compile(&rs, r.UserID).Evaluate(ev, r)
	return ok
}

// The examples of client-server-api "Conditions", one table per kind.
func TestCondition_EventMatch(t *testing.T) {
	topic := func(v string) *Event {
		return mustPrepare(t, `{"content":{"topic":`+v+`},"event_id":"$143273582443PhrSn:example.org",
			"room_id":"!636q39766251:example.com","sender":"@example:example.org","state_key":"","type":"m.room.topic"}`, RoomContext{})
	}
	for _, c := range []struct {
		cond, topic string
		want        bool
	}{
		{`{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}`, `"Lunch plans"`, true},
		{`{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}`, `"LUNCH"`, true},
		{`{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}`, `" lunch"`, false},
		{`{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}`, `"lunc"`, false},
		{`{"kind":"event_match","key":"content.topic","pattern":"lunc?*"}`, `null`, false},
		{`{"kind":"event_match","key":"content.topic","pattern":"*"}`, `5`, false},            // not a string
		{`{"kind":"event_match","key":"content.missing","pattern":"*"}`, `"x"`, false},        // absent
		{`{"kind":"event_match","key":"content","pattern":"*"}`, `"x"`, false},                // an object
		{`{"kind":"event_match","key":"state_key","pattern":""}`, `"x"`, true},                // empty pattern, empty value
		{`{"kind":"event_match","key":"type","pattern":"m.room.*"}`, `"x"`, true},             // top-level key
		{`{"kind":"event_match","key":"content.topic"}`, `"x"`, false},                        // no pattern: never matches
		{`{"kind":"event_match","key":"content.topic","pattern":"x","extra":1}`, `"x"`, true}, // unknown parameters ignored
	} {
		if got := holds(t, c.cond, topic(c.topic), Recipient{UserID: alice}); got != c.want {
			t.Errorf("%s on topic %s = %v, want %v", c.cond, c.topic, got, c.want)
		}
	}
	body := func(b string) *Event {
		return mustPrepare(t, `{"content":{"body":`+b+`},"room_id":"!r:example.com","sender":"@example:example.org","type":"m.room.message"}`, RoomContext{})
	}
	for _, c := range []struct {
		body string
		want bool
	}{
		{`"An example event."`, true},
		{`"exple"`, true},
		{`"An exciting triple-whammy"`, true},
		{`"Counterexample"`, false},
	} {
		if got := holds(t, `{"kind":"event_match","key":"content.body","pattern":"ex*ple"}`, body(c.body), Recipient{UserID: alice}); got != c.want {
			t.Errorf("ex*ple on body %s = %v, want %v", c.body, got, c.want)
		}
	}
}

func TestCondition_EventPropertyIs(t *testing.T) {
	create := func(v string) *Event {
		return mustPrepare(t, `{"content":{"creator":"@example:example.org","m.federate":`+v+`,
			"predecessor":{"event_id":"$something:example.org","room_id":"!oldroom:example.org"},"room_version":"1"},
			"event_id":"$143273582443PhrSn:example.org","room_id":"!636q39766251:example.com",
			"sender":"@example:example.org","state_key":"","type":"m.room.create"}`, RoomContext{})
	}
	for _, c := range []struct {
		cond, federate string
		want           bool
	}{
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":true}`, `true`, true},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":true}`, `"true"`, false},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":true}`, `1`, false},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":1}`, `1`, true},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":1}`, `1.0`, false}, // not canonical JSON
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":null}`, `null`, true},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":null}`, `false`, false},
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":"X"}`, `"x"`, false}, // exact, not case-insensitive
		{`{"kind":"event_property_is","key":"content.m.federate","value":true}`, `true`, false}, // unescaped dot is a path step
		{`{"kind":"event_property_is","key":"content.predecessor.room_id","value":"!oldroom:example.org"}`, `true`, true},
		{`{"kind":"event_property_is","key":"content.predecessor","value":null}`, `true`, false}, // compound
		{`{"kind":"event_property_is","key":"content.missing","value":null}`, `true`, false},     // absent is not null
		{`{"kind":"event_property_is","key":"content.m\\.federate","value":[true]}`, `true`, false},
	} {
		if got := holds(t, c.cond, create(c.federate), Recipient{UserID: alice}); got != c.want {
			t.Errorf("%s on m.federate %s = %v, want %v", c.cond, c.federate, got, c.want)
		}
	}
}

func TestCondition_EventPropertyContains(t *testing.T) {
	alias := func(v string) *Event {
		return mustPrepare(t, `{"content":{"alias":"#somewhere:localhost","alt_aliases":`+v+`},
			"event_id":"$143273582443PhrSn:example.org","origin_server_ts":1432735824653,
			"room_id":"!jEsUZKDJdhlrceRyVU:example.org","sender":"@example:example.org","state_key":"",
			"type":"m.room.canonical_alias","unsigned":{"age":1234}}`, RoomContext{})
	}
	const cond = `{"kind":"event_property_contains","key":"content.alt_aliases","value":"#myroom:example.com"}`
	for _, c := range []struct {
		aliases string
		want    bool
	}{
		{`["#somewhere:example.org","#myroom:example.com"]`, true},
		{`[":example.com"]`, false}, // partial values do not match
		{`["#MYROOM:example.com"]`, false},
		{`"#myroom:example.com"`, false}, // not an array
		{`[{"a":"#myroom:example.com"},"#myroom:example.com"]`, true},
		{`[]`, false},
	} {
		if got := holds(t, cond, alias(c.aliases), Recipient{UserID: alice}); got != c.want {
			t.Errorf("contains in %s = %v, want %v", c.aliases, got, c.want)
		}
	}
	ints := alias(`[1, 2, true, null]`)
	for cond, want := range map[string]bool{
		`{"kind":"event_property_contains","key":"content.alt_aliases","value":2}`:    true,
		`{"kind":"event_property_contains","key":"content.alt_aliases","value":3}`:    false,
		`{"kind":"event_property_contains","key":"content.alt_aliases","value":true}`: true,
		`{"kind":"event_property_contains","key":"content.alt_aliases","value":null}`: true,
		`{"kind":"event_property_contains","key":"content.alt_aliases","value":"1"}`:  false,
	} {
		if got := holds(t, cond, ints, Recipient{UserID: alice}); got != want {
			t.Errorf("%s = %v, want %v", cond, got, want)
		}
	}
}

func TestCondition_ContainsDisplayName(t *testing.T) {
	const cond = `{"kind":"contains_display_name"}`
	body := func(b string) *Event {
		return mustPrepare(t, `{"content":{"body":"`+b+`"},"sender":"@bob:example.org","type":"m.room.message"}`, RoomContext{})
	}
	for _, c := range []struct {
		name, body string
		want       bool
	}{
		{"Alice", "hello alice!", true},
		{"Alice", "Alice: hi", true},
		{"Alice", "malice aforethought", false},
		{"Alice", "alice_b", false},
		{"Al*ce", "hi al*ce", true}, // the name is literal, not a glob
		{"Al*ce", "hi allice", false},
		{"", "hello", false},
	} {
		if got := holds(t, cond, body(c.body), Recipient{UserID: alice, DisplayName: c.name}); got != c.want {
			t.Errorf("name %q in %q = %v, want %v", c.name, c.body, got, c.want)
		}
	}
	rs := Ruleset{Override: []Rule{{RuleID: "x", Enabled: true, Conditions: []Condition{{Kind: CondContainsDisplayName}}}}}
	if !Compile(&rs, alice).NeedsDisplayName() || CompileDefaults().NeedsDisplayName() {
		t.Error("NeedsDisplayName should be true only when a rule asks for the name")
	}
}

func TestCondition_RoomMemberCount(t *testing.T) {
	ev := func(n int) *Event {
		return mustPrepare(t, `{"type":"m.room.message","sender":"@bob:example.org"}`, RoomContext{MemberCount: n})
	}
	for _, c := range []struct {
		is   string
		n    int
		want bool
	}{
		{"2", 2, true}, {"2", 3, false},
		{"==2", 2, true}, {"==2", 1, false},
		{"<10", 9, true}, {"<10", 10, false},
		{">10", 11, true}, {">10", 10, false},
		{"<=10", 10, true}, {"<=10", 11, false},
		{">=10", 10, true}, {">=10", 9, false},
		{"", 0, false}, {"=2", 2, false}, {"2.0", 2, false}, {"-1", 0, false}, {"abc", 0, false}, {" 2", 2, false},
	} {
		cond := `{"kind":"room_member_count","is":"` + c.is + `"}`
		if got := holds(t, cond, ev(c.n), Recipient{UserID: alice}); got != c.want {
			t.Errorf("is %q with %d members = %v, want %v", c.is, c.n, got, c.want)
		}
	}
}

func TestCondition_SenderNotificationPermission(t *testing.T) {
	const cond = `{"kind":"sender_notification_permission","key":"room"}`
	ev := func(pl int64, levels map[string]int64) *Event {
		return mustPrepare(t, `{"type":"m.room.message","sender":"@bob:example.org"}`,
			RoomContext{SenderPowerLevel: pl, NotificationLevels: levels})
	}
	for _, c := range []struct {
		pl     int64
		levels map[string]int64
		want   bool
	}{
		{50, nil, true}, // "room" defaults to 50
		{49, nil, false},
		{0, map[string]int64{"room": 0}, true},
		{99, map[string]int64{"room": 100}, false},
		{100, map[string]int64{"room": 100}, true},
	} {
		if got := holds(t, cond, ev(c.pl, c.levels), Recipient{UserID: alice}); got != c.want {
			t.Errorf("sender at %d with %v = %v, want %v", c.pl, c.levels, got, c.want)
		}
	}
	// A key with no level set and no default never matches.
	if holds(t, `{"kind":"sender_notification_permission","key":"other"}`, ev(100, nil), Recipient{UserID: alice}) {
		t.Error("unknown notification key matched")
	}
}

// Unrecognised conditions must not match any event (client-server-api
// "Conditions").
func TestCondition_UnknownNeverMatches(t *testing.T) {
	ev := mustPrepare(t, `{"type":"m.room.message","sender":"@bob:example.org"}`, RoomContext{})
	for _, cond := range []string{`{"kind":"org.example.future"}`, `{"kind":"event_property_is","key":"type"}`,
		`{"kind":"event_property_is","key":"type","value":1.5}`, `{"kind":"sender_notification_permission"}`} {
		if holds(t, cond, ev, Recipient{UserID: alice}) {
			t.Errorf("%s matched", cond)
		}
	}
	if !holds(t, `{"kind":"event_match","key":"type","pattern":"m.room.message"}`, ev, Recipient{UserID: alice}) {
		t.Error("control condition did not match")
	}
}

// Servers must not notify for events the user sent themselves
// (client-server-api "Push Rules").
func TestEvaluate_OwnEventsNeverNotify(t *testing.T) {
	ev := mustPrepare(t, `{"type":"m.room.message","sender":"`+alice+`","content":{"body":"hi","m.mentions":{"user_ids":["`+alice+`"]}}}`,
		RoomContext{MemberCount: 2})
	if res, ok := CompileDefaults().Evaluate(ev, Recipient{UserID: alice}); ok {
		t.Errorf("own event matched %s", res.RuleID)
	}
	if res, ok := CompileDefaults().Evaluate(ev, Recipient{UserID: "@bob:example.org"}); !ok || !res.Notify {
		t.Errorf("someone else's event: %+v %v", res, ok)
	}
}

// dont_notify and coalesce are ignored: ["dont_notify"] is [] (client-server-api
// "Historical Actions").
func TestActions_HistoricalStripped(t *testing.T) {
	var actions []Action
	if err := json.Unmarshal([]byte(`["dont_notify","coalesce","notify",{"set_tweak":"highlight"},{"set_tweak":"sound","value":"bing"}]`), &actions); err != nil {
		t.Fatal(err)
	}
	rs := Ruleset{Override: []Rule{{RuleID: "x", Enabled: true, Conditions: []Condition{}, Actions: actions}}}
	ev := mustPrepare(t, `{"type":"m.room.message","sender":"@bob:example.org"}`, RoomContext{})
	res, ok := Compile(&rs, alice).Evaluate(ev, Recipient{UserID: alice})
	if !ok || !res.Notify || !res.Highlight || res.Sound != "bing" || len(res.Actions) != 3 {
		t.Errorf("result = %+v", res)
	}
	rs.Override[0].Actions = []Action{{Name: ActionDontNotify}}
	res, ok = Compile(&rs, alice).Evaluate(ev, Recipient{UserID: alice})
	if !ok || res.Notify || len(res.Actions) != 0 {
		t.Errorf("dont_notify result = %+v", res)
	}
	if got, err := ParseActions(json.RawMessage(`["dont_notify"]`)); err != nil || len(got) != 0 {
		t.Errorf(`ParseActions(["dont_notify"]) = %v, %v`, got, err)
	}
}

// A highlight tweak without a value is true; highlight false and absent are
// false (client-server-api "Actions").
func TestActions_HighlightDefaultsTrue(t *testing.T) {
	for actions, want := range map[string]bool{
		`[{"set_tweak":"highlight"}]`:               true,
		`[{"set_tweak":"highlight","value":true}]`:  true,
		`[{"set_tweak":"highlight","value":false}]`: false,
		`["notify"]`: false,
	} {
		var a []Action
		if err := json.Unmarshal([]byte(actions), &a); err != nil {
			t.Fatal(err)
		}
		if got := summarise(Override, Rule{Actions: a}).Highlight; got != want {
			t.Errorf("%s: highlight = %v, want %v", actions, got, want)
		}
	}
}
