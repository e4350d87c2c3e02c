package pushrules

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzGlob checks the compiled glob against the reference reading of
// appendices "Glob-style matching", for whole values and for content.body's
// word-boundary rule.
func FuzzGlob(f *testing.F) {
	f.Add("lunc?*", "Lunch plans")
	f.Add("ex*ple", "An exciting triple-whammy")
	f.Add("*a*b*c", "xaxxbxxabcxc")
	f.Add("cake*lie", "the cake is a lie")
	f.Add("??", "é!")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pattern, value string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(value) || len(pattern) > 64 || len(value) > 256 {
			return // events are JSON: their strings are valid UTF-8
		}
		g := compileGlob(pattern)
		v := strings.ToLower(value)
		if got, want := g.match(v), refRegexp(pattern, false).MatchString(v); got != want {
			t.Fatalf("%q matches %q = %v, reference %v", pattern, value, got, want)
		}
		if got, want := g.matchWords(v), refRegexp(pattern, true).MatchString(v); got != want {
			t.Fatalf("%q in body %q = %v, reference %v", pattern, value, got, want)
		}
	})
}

// FuzzCondition feeds arbitrary bytes as a rule body and as an event: the
// parser refuses or accepts without panicking, and an accepted rule
// compiles and evaluates.
func FuzzCondition(f *testing.F) {
	f.Add(`{"actions":["notify"],"conditions":[{"kind":"event_match","key":"content.body","pattern":"ex*ple"}]}`,
		`{"type":"m.room.message","sender":"@b:x","content":{"body":"An example"}}`)
	f.Add(`{"actions":[],"conditions":[{"kind":"event_property_is","key":"content.m\\.federate","value":true}]}`,
		`{"type":"m.room.create","sender":"@b:x","content":{"m.federate":true}}`)
	f.Add(`{"actions":[{"set_tweak":"highlight"}],"conditions":[{"kind":"event_property_contains","key":"content.a","value":null}]}`,
		`{"sender":"@b:x","content":{"a":[null,1,"x",{"y":[]}]}}`)
	f.Add(`{"actions":["notify"],"conditions":[{"kind":"room_member_count","is":">=2"},{"kind":"sender_notification_permission","key":"room"},{"kind":"contains_display_name"}]}`,
		`{"sender":"@b:x","content":{"body":"hi Alice"}}`)
	f.Add(`{"actions":["coalesce"],"conditions":[{"kind":"x"}]}`, `[]`)
	f.Fuzz(func(t *testing.T, rule, event string) {
		ev, err := Prepare([]byte(event), RoomContext{MemberCount: 2, SenderPowerLevel: 50})
		if err != nil {
			return
		}
		for _, k := range Kinds {
			nr, err := ParseNewRule(k, []byte(rule))
			if err != nil {
				continue
			}
			rs := Defaults(alice)
			if err := Put(&rs, k, "r", nr, "", ""); err != nil {
				t.Fatalf("accepted rule refused by Put: %v", err)
			}
			res, _ := Compile(&rs, alice).Evaluate(ev, Recipient{UserID: alice, DisplayName: "Alice"})
			if _, err := json.Marshal(res.Actions); err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(Document{Global: rs})
			if err != nil {
				t.Fatal(err)
			}
			var back Document
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("stored rules do not read back: %v\n%s", err, raw)
			}
		}
	})
}
