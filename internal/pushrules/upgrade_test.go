package pushrules

import (
	"encoding/json"
	"testing"
)

// A room upgrade copies the user's enabled rules about the old room (its
// room rule and override/underride rules with a room_id condition on it)
// to the new room, as Synapse does; other rules, disabled ones and the
// server defaults are left alone.
func TestCopyRoomRules_CopiesEnabledRulesAboutTheOldRoom(t *testing.T) {
	const user, old, repl = "@u:x", "!old:x", "!new:x"
	rs := Merge(nil, user)
	put := func(k Kind, id, body string) {
		t.Helper()
		nr, err := ParseNewRule(k, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := Put(&rs, k, id, nr, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	put(Room, old, `{"actions":["notify",{"set_tweak":"sound","value":"default"}]}`)
	put(Room, "!other:x", `{"actions":[]}`)
	put(Override, "mute-old", `{"actions":[],"conditions":[{"kind":"event_match","key":"room_id","pattern":"`+old+`"},{"kind":"event_match","key":"type","pattern":"m.call.invite"}]}`)
	put(Underride, "off", `{"actions":["notify"],"conditions":[{"kind":"event_match","key":"room_id","pattern":"`+old+`"}]}`)
	if err := SetEnabled(&rs, Underride, "off", false); err != nil {
		t.Fatal(err)
	}
	put(Content, "word", `{"actions":["notify"],"pattern":"`+old+`"}`)

	changed, err := CopyRoomRules(&rs, old, repl)
	if err != nil || !changed {
		t.Fatalf("CopyRoomRules = %v, %v", changed, err)
	}
	room, err := Get(&rs, Room, repl)
	if err != nil {
		t.Fatalf("no room rule for the new room: %v", err)
	}
	if got, _ := json.Marshal(room.Actions); string(got) != `["notify",{"set_tweak":"sound","value":"default"}]` || !room.Enabled {
		t.Errorf("copied room rule = %+v", room)
	}
	over, err := Get(&rs, Override, repl)
	if err != nil {
		t.Fatalf("no override rule for the new room: %v", err)
	}
	if len(over.Conditions) != 2 || *over.Conditions[0].Pattern != repl || *over.Conditions[1].Pattern != "m.call.invite" {
		t.Errorf("copied override conditions = %+v", over.Conditions)
	}
	if user, _ := split(rs.Override); user[0].RuleID != repl {
		t.Errorf("the copy is not the user's most important override rule: %s first", user[0].RuleID)
	}
	if _, err := Get(&rs, Underride, repl); err == nil {
		t.Errorf("a disabled rule was copied")
	}
	if _, err := Get(&rs, Content, repl); err == nil {
		t.Errorf("a content rule was copied")
	}
	if old, _ := Get(&rs, Room, old); !old.Enabled {
		t.Errorf("the old room's rule changed")
	}

	if changed, err := CopyRoomRules(&rs, "!never:x", repl); err != nil || changed {
		t.Errorf("copying from a room without rules = %v, %v; want no change", changed, err)
	}
}
