package pushrules

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The server-default rules of client-server-api "Predefined Rules", in the
// spec's order.
func TestDefaults_SpecOrder(t *testing.T) {
	want := map[Kind][]string{
		Override: {".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
			".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction",
			".m.rule.room.server_acl", ".m.rule.suppress_edits"},
		Content:   nil,
		Room:      nil,
		Sender:    nil,
		Underride: {".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted"},
	}
	rs := Defaults(alice)
	for _, k := range Kinds {
		var ids []string
		for _, r := range rs.Rules(k) {
			ids = append(ids, r.RuleID)
			if !r.Default || r.Enabled != (r.RuleID != ".m.rule.master") {
				t.Errorf("%s: default=%v enabled=%v", r.RuleID, r.Default, r.Enabled)
			}
		}
		if !reflect.DeepEqual(ids, want[k]) {
			t.Errorf("%s rules = %q, want %q", k, ids, want[k])
		}
	}
}

// The JSON of a few rules, exactly as the spec defines them.
func TestDefaults_WireForm(t *testing.T) {
	rs := Defaults(alice)
	for _, c := range []struct {
		kind Kind
		id   string
		want string
	}{
		{Override, ".m.rule.master", `{"rule_id":".m.rule.master","default":true,"enabled":false,"conditions":[],"actions":[]}`},
		{Override, ".m.rule.invite_for_me", `{"rule_id":".m.rule.invite_for_me","default":true,"enabled":true,"conditions":[` +
			`{"kind":"event_match","key":"type","pattern":"m.room.member"},{"kind":"event_match","key":"content.membership","pattern":"invite"},` +
			`{"kind":"event_match","key":"state_key","pattern":"@alice:example.org"}],"actions":["notify",{"set_tweak":"sound","value":"default"}]}`},
		{Override, ".m.rule.is_user_mention", `{"rule_id":".m.rule.is_user_mention","default":true,"enabled":true,"conditions":[` +
			`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"@alice:example.org"}],` +
			`"actions":["notify",{"set_tweak":"sound","value":"default"},{"set_tweak":"highlight"}]}`},
		{Override, ".m.rule.tombstone", `{"rule_id":".m.rule.tombstone","default":true,"enabled":true,"conditions":[` +
			`{"kind":"event_match","key":"type","pattern":"m.room.tombstone"},{"kind":"event_match","key":"state_key","pattern":""}],` +
			`"actions":["notify",{"set_tweak":"highlight"}]}`},
		{Underride, ".m.rule.room_one_to_one", `{"rule_id":".m.rule.room_one_to_one","default":true,"enabled":true,"conditions":[` +
			`{"kind":"room_member_count","is":"2"},{"kind":"event_match","key":"type","pattern":"m.room.message"}],` +
			`"actions":["notify",{"set_tweak":"sound","value":"default"}]}`},
	} {
		r, _ := rs.Find(c.kind, c.id)
		got, err := json.Marshal(r)
		if err != nil || string(got) != c.want {
			t.Errorf("%s =\n%s\nwant\n%s", c.id, got, c.want)
		}
	}
	// A round trip through JSON changes nothing.
	raw, _ := json.Marshal(Document{Global: rs})
	var back Document
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back.Global, rs) {
		t.Errorf("round trip: %v\n%+v", err, back.Global)
	}
	if !strings.Contains(string(raw), `"content":[]`) || !strings.Contains(string(raw), `"room":[]`) {
		t.Errorf("empty kinds must be empty arrays: %s", raw)
	}
}

// Every server-default rule, given an event it is meant for, is the rule
// that decides, with the spec's outcome.
func TestDefaults_EveryRuleDecides(t *testing.T) {
	const bob = "@bob:example.org"
	pl := RoomContext{MemberCount: 5, SenderPowerLevel: 50}
	for _, c := range []struct {
		rule      string
		event     string
		room      RoomContext
		notify    bool
		highlight bool
		sound     string
	}{
		{".m.rule.suppress_notices", `{"type":"m.room.message","content":{"msgtype":"m.notice","body":"bot"}}`, pl, false, false, ""},
		{".m.rule.invite_for_me", `{"type":"m.room.member","state_key":"` + alice + `","content":{"membership":"invite"}}`, pl, true, false, "default"},
		{".m.rule.member_event", `{"type":"m.room.member","state_key":"@carol:example.org","content":{"membership":"invite"}}`, pl, false, false, ""},
		{".m.rule.member_event", `{"type":"m.room.member","state_key":"` + bob + `","content":{"membership":"join"}}`, pl, false, false, ""},
		{".m.rule.is_user_mention", `{"type":"m.room.message","content":{"body":"hey","m.mentions":{"user_ids":["` + alice + `"]}}}`, pl, true, true, "default"},
		{".m.rule.is_room_mention", `{"type":"m.room.message","content":{"body":"all","m.mentions":{"room":true}}}`, pl, true, true, ""},
		{".m.rule.tombstone", `{"type":"m.room.tombstone","state_key":"","content":{"replacement_room":"!new:example.org"}}`, pl, true, true, ""},
		{".m.rule.reaction", `{"type":"m.reaction","content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$e","key":"👍"}}}`, pl, false, false, ""},
		{".m.rule.room.server_acl", `{"type":"m.room.server_acl","state_key":"","content":{"allow":["*"]}}`, pl, false, false, ""},
		{".m.rule.suppress_edits", `{"type":"m.room.message","content":{"body":"* fixed","m.relates_to":{"rel_type":"m.replace","event_id":"$e"}}}`, pl, false, false, ""},
		{".m.rule.call", `{"type":"m.call.invite","content":{"call_id":"c","version":"1"}}`, pl, true, false, "ring"},
		{".m.rule.encrypted_room_one_to_one", `{"type":"m.room.encrypted","content":{"algorithm":"m.megolm.v1.aes-sha2"}}`, RoomContext{MemberCount: 2}, true, false, "default"},
		{".m.rule.room_one_to_one", `{"type":"m.room.message","content":{"body":"hi"}}`, RoomContext{MemberCount: 2}, true, false, "default"},
		{".m.rule.message", `{"type":"m.room.message","content":{"body":"hi"}}`, pl, true, false, ""},
		{".m.rule.encrypted", `{"type":"m.room.encrypted","content":{"algorithm":"m.megolm.v1.aes-sha2"}}`, pl, true, false, ""},
	} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(c.event), &obj); err != nil {
			t.Fatal(err)
		}
		obj["sender"], obj["room_id"] = bob, "!r:example.org"
		raw, _ := json.Marshal(obj)
		ev := mustPrepare(t, string(raw), c.room)
		for name, compiled := range map[string]*Compiled{"shared": CompileDefaults(), "own": ownDefaults(alice)} {
			res, ok := compiled.Evaluate(ev, Recipient{UserID: alice})
			if !ok || res.RuleID != c.rule || res.Notify != c.notify || res.Highlight != c.highlight || res.Sound != c.sound {
				t.Errorf("%s (%s defaults): got %s notify=%v highlight=%v sound=%q", c.rule, name, res.RuleID, res.Notify, res.Highlight, res.Sound)
			}
		}
	}
	// A room mention from a sender below the "room" level falls through
	// to .m.rule.message.
	ev := mustPrepare(t, `{"type":"m.room.message","sender":"`+bob+`","content":{"body":"all","m.mentions":{"room":true}}}`,
		RoomContext{MemberCount: 5, SenderPowerLevel: 0})
	if res, _ := CompileDefaults().Evaluate(ev, Recipient{UserID: alice}); res.RuleID != ".m.rule.message" || res.Highlight {
		t.Errorf("room mention without power: %s", res.RuleID)
	}
	// An event no rule is about does not match at all.
	ev = mustPrepare(t, `{"type":"m.room.topic","sender":"`+bob+`","state_key":"","content":{"topic":"t"}}`, pl)
	if res, ok := CompileDefaults().Evaluate(ev, Recipient{UserID: alice}); ok {
		t.Errorf("topic change matched %s", res.RuleID)
	}
	// The master rule, once enabled, silences everything.
	rs := Defaults(alice)
	if err := SetEnabled(&rs, Override, ".m.rule.master", true); err != nil {
		t.Fatal(err)
	}
	ev = mustPrepare(t, `{"type":"m.room.message","sender":"`+bob+`","content":{"body":"hi","m.mentions":{"user_ids":["`+alice+`"]}}}`, pl)
	if res, ok := Compile(&rs, alice).Evaluate(ev, Recipient{UserID: alice}); !ok || res.RuleID != ".m.rule.master" || res.Notify {
		t.Errorf("master enabled: %+v", res)
	}
	// The invite and mention rules are about the recipient, not anyone.
	ev = mustPrepare(t, `{"type":"m.room.message","sender":"`+bob+`","content":{"body":"hi","m.mentions":{"user_ids":["`+alice+`"]}}}`, pl)
	if res, _ := CompileDefaults().Evaluate(ev, Recipient{UserID: "@carol:example.org"}); res.RuleID != ".m.rule.message" {
		t.Errorf("mention of alice decided carol's by %s", res.RuleID)
	}
}

func ownDefaults(userID string) *Compiled {
	rs := Defaults(userID)
	return Compile(&rs, userID)
}

// Content, room and sender rules have their conditions in their pattern
// and rule ID (client-server-api "Push Rules").
func TestEvaluate_ContentRoomSenderRules(t *testing.T) {
	rs := Defaults(alice)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Put(&rs, Content, "cake", NewRule{Pattern: str("cake"), Actions: []Action{Notify(), Tweak("sound", json.RawMessage(`"cakealarm.wav"`))}}, "", ""))
	must(Put(&rs, Room, "!quiet:example.org", NewRule{Actions: []Action{}}, "", ""))
	must(Put(&rs, Sender, "@spambot:example.org", NewRule{Actions: []Action{}}, "", ""))
	c := Compile(&rs, alice)
	for _, tc := range []struct {
		sender, room, body, rule string
	}{
		{"@bob:example.org", "!r:example.org", "time for cake", "cake"},
		{"@bob:example.org", "!quiet:example.org", "time for cake", "cake"}, // content ranks above room
		{"@bob:example.org", "!quiet:example.org", "hello", "!quiet:example.org"},
		{"@spambot:example.org", "!r:example.org", "buy now", "@spambot:example.org"},
		{"@spambot:example.org", "!quiet:example.org", "buy now", "!quiet:example.org"}, // room ranks above sender
		{"@bob:example.org", "!r:example.org", "cakes", ".m.rule.message"},
	} {
		ev := mustPrepare(t, `{"type":"m.room.message","sender":"`+tc.sender+`","room_id":"`+tc.room+`","content":{"body":"`+tc.body+`"}}`,
			RoomContext{MemberCount: 5})
		if res, _ := c.Evaluate(ev, Recipient{UserID: alice}); res.RuleID != tc.rule {
			t.Errorf("%s in %s saying %q: decided by %s, want %s", tc.sender, tc.room, tc.body, res.RuleID, tc.rule)
		}
	}
}
