package eventauth

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Rule 1: "If type is m.room.create: …"

// buildCreate builds a create event by sender with the given content.
func buildCreate(t *testing.T, v *roomversion.Version, sender, roomID, content string, prev []string) *event.Event {
	t.Helper()
	server := serverOf(sender)
	b := &event.Builder{Type: event.TypeCreate, StateKey: sp(""), Sender: sender, RoomID: roomID,
		Content: json.RawMessage(content), PrevEvents: prev, AuthEvents: []string{},
		Depth: 1, OriginServerTS: 1, EventID: "$c:" + server, Origin: server}
	if !v.CreateEventHasRoomID {
		b.RoomID = ""
	}
	e, err := b.Build(v, server, testKey)
	if err != nil {
		t.Fatalf("build create: %v", err)
	}
	return e
}

func checkCreateEvent(e *event.Event) error { return Check(e, StateMap{}) }

func TestAuth_Create_Valid(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "!room:a.test", createContent(v, ""), nil)
		if err := checkCreateEvent(e); err != nil {
			t.Fatal(err)
		}
		if err := CheckAuthEvents(e, nil, nil, nil); err != nil {
			t.Fatalf("CheckAuthEvents of a create event: %v", err)
		}
	})
}

// Rule 1.1: "If it has any prev_events, reject."
func TestAuth_Create_WithPrevEventsRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		prev := "$earlier:a.test"
		if v.EventIDsAreHashes() {
			prev = "$" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		e := buildCreate(t, v, alice, "!room:a.test", createContent(v, ""), []string{prev})
		denyErr(t, checkCreateEvent(e), ruleNo(v, "create", "prev"), e)
	})
}

// Rule 1.2 (v1–v11): "If the domain of the room_id does not match the
// domain of the sender, reject."
func TestAuth_Create_RoomIDDomainMustMatchSender(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.CreateEventHasRoomID }, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "!room:b.test", createContent(v, ""), nil)
		denyErr(t, checkCreateEvent(e), ruleNo(v, "create", "roomid"), e)
	})
}

// Rule 1.2 (v12): "If the event has a room_id, reject." The event package
// already refuses to parse such a create event; an m.room.create-typed
// event that does carry a room_id (with another state_key) is rejected here.
func TestAuth_Create_V12WithRoomIDRejected(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.CreateEventHasRoomID }, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "", createContent(v, ""), nil)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e.JSON(), &obj); err != nil {
			t.Fatal(err)
		}
		obj["room_id"] = json.RawMessage(`"!room:a.test"`)
		withRoomID, _ := json.Marshal(obj)
		if _, err := event.Parse(withRoomID, v); !errors.Is(err, event.ErrBadFormat) {
			t.Errorf("event.Parse of a v12 create with room_id: %v, want ErrBadFormat", err)
		}

		b := &event.Builder{Type: event.TypeCreate, StateKey: sp("x"), Sender: alice, RoomID: "!room:a.test",
			Content: json.RawMessage(createContent(v, "")), PrevEvents: []string{}, AuthEvents: []string{}, Depth: 1}
		odd, err := b.Build(v, "a.test", testKey)
		if err != nil {
			t.Fatal(err)
		}
		denyErr(t, checkCreateEvent(odd), ruleNo(v, "create", "roomid"), odd)
	})
}

// Rule 1.3: "If content.room_version is present and is not a recognised
// version, reject."
func TestAuth_Create_UnknownRoomVersionRejected(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		creator := ""
		if !v.CreatorIsSender {
			creator = `"creator":"` + alice + `",`
		}
		for _, c := range []string{`{` + creator + `"room_version":"999"}`, `{` + creator + `"room_version":12}`} {
			e := buildCreate(t, v, alice, "!room:a.test", c, nil)
			denyErr(t, checkCreateEvent(e), ruleNo(v, "create", "version"), e)
		}
		// Absent is fine (it means room version 1 to clients).
		e := buildCreate(t, v, alice, "!room:a.test", `{`+trimComma(creator)+`}`, nil)
		if err := checkCreateEvent(e); err != nil {
			t.Error(err)
		}
	})
}

func trimComma(s string) string {
	if len(s) > 0 && s[len(s)-1] == ',' {
		return s[:len(s)-1]
	}
	return s
}

// Rule 1.4 (v1–v10): "If content has no creator property, reject." Removed
// in v11, where the creator is the sender.
func TestAuth_Create_CreatorProperty(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "!room:a.test", `{"room_version":"`+string(v.ID)+`"}`, nil)
		if v.CreatorIsSender {
			if err := checkCreateEvent(e); err != nil {
				t.Error(err)
			}
		} else {
			denyErr(t, checkCreateEvent(e), ruleNo(v, "create", "creator"), e)
		}
	})
}

// Rule 1.4 (v12): "If additional_creators is present in content and is not
// an array of strings where each string passes the same user ID validation
// applied to sender, reject."
func TestAuth_Create_AdditionalCreatorsMustBeUserIDs(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.PrivilegedCreators }, func(t *testing.T, v *roomversion.Version) {
		ok := buildCreate(t, v, alice, "", createContent(v, `"additional_creators":["`+bob+`","`+carol+`"]`), nil)
		if err := checkCreateEvent(ok); err != nil {
			t.Error(err)
		}
		for _, bad := range []string{`"bob"`, `["bob"]`, `["@bob"]`, `[1]`, `["` + bob + `",null]`, `{"` + bob + `":1}`, `null`} {
			e := buildCreate(t, v, alice, "", createContent(v, `"additional_creators":`+bad), nil)
			denyErr(t, checkCreateEvent(e), ruleNo(v, "create", "additional"), e)
		}
	})
}

// Before v12 additional_creators means nothing.
func TestAuth_Create_AdditionalCreatorsIgnoredBeforeV12(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.PrivilegedCreators }, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "!room:a.test", createContent(v, `"additional_creators":"junk"`), nil)
		if err := checkCreateEvent(e); err != nil {
			t.Error(err)
		}
		if got := Creators(e); len(got) != 1 || got[0] != alice {
			t.Errorf("Creators = %v", got)
		}
	})
}

// Creators: v1–v10 content.creator, v11 the sender, v12 the sender plus
// additional_creators.
func TestCreators(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		e := buildCreate(t, v, alice, "!room:a.test", createContent(v, `"additional_creators":["`+bob+`","`+alice+`"]`), nil)
		want := []string{alice}
		if v.PrivilegedCreators {
			want = []string{alice, bob}
		}
		if got := Creators(e); !equalStrings(got, want) {
			t.Errorf("Creators = %v, want %v", got, want)
		}
	})
	v1 := roomversion.MustGet("1")
	e := buildCreate(t, v1, alice, "!room:a.test", `{"creator":"`+bob+`"}`, nil)
	if got := Creators(e); !equalStrings(got, []string{bob}) {
		t.Errorf("v1 Creators = %v, want content.creator", got)
	}
	if Creators(nil) != nil {
		t.Error("Creators(nil) should be nil")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// v12 rule 2: "If the event's room_id is not an event ID for an accepted
// (not rejected) m.room.create event, with the sigil ! instead of $, reject."
// For v1–v11 an event checked against another room's state is rejected too.
func TestAuth_RoomIDMustBeTheCreateEvents(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		other := newRoom(t, v, "")
		var rule string
		if v.PrivilegedCreators {
			// Two v12 rooms differ by their create events' hashes only if
			// the creates differ; make the second one different.
			other = newBareRoom(t, v, `"x":1`)
			rule = ruleNo(v, "roomid")
		} else {
			other.id = "!other:a.test"
			rule = ruleNo(v, "authevents", "roomid")
		}
		e := other.message(alice, "m.room.message", `{"body":"hi"}`)
		deny(t, r, e, rule)

		// The create event itself must be present.
		empty := &room{t: t, v: v, state: StateMap{}}
		deny(t, empty, r.message(alice, "m.room.message", `{}`), "")
	})
}

// Rule 4 (v12) / 3: "If the content of the m.room.create event in the room
// state has the property m.federate set to false, and the sender domain of
// the event does not match the sender domain of the create event, reject."
func TestAuth_Federate_FalseRejectsOtherServers(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, `"m.federate":false`)
		r.mustSend(r.member(alice, alice, event.Join, ""))
		r.setJoinRule("public")
		deny(t, r, r.member(bob, bob, event.Join, ""), ruleNo(v, "federate"))
		allow(t, r, r.member("@alice2:a.test", "@alice2:a.test", event.Join, ""))
		allow(t, r, r.message(alice, "m.room.message", `{}`))
	})
}

func TestAuth_Federate_TrueOrAbsentAllowsOtherServers(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, `"m.federate":true`)
		r.mustSend(r.member(alice, alice, event.Join, ""))
		r.setJoinRule("public")
		allow(t, r, r.member(bob, bob, event.Join, ""))
	})
}

// The spec says "set to false"; any other value, even a falsy one, leaves
// the room federated. (Synapse treats every value but true as false; we
// follow the spec's words.)
func TestAuth_Federate_OnlyFalseCounts(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, `"m.federate":"false"`)
		r.mustSend(r.member(alice, alice, event.Join, ""))
		r.setJoinRule("public")
		allow(t, r, r.member(bob, bob, event.Join, ""))
	})
}
