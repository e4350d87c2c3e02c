package eventauth

import (
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// Power levels: defaults (client-server-api m.room.power_levels), legacy
// value formats (fragments/v1-stringy-power-levels.md,
// v1-floaty-power-levels.md) and the m.room.power_levels auth rule (rule 10
// in v1–v5 and v12, 9 in v6–v11).

func TestPowerLevelsFrom_Defaults(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		p, err := PowerLevelsFrom(r.state, v)
		if err != nil {
			t.Fatal(err)
		}
		got := []int64{p.Ban, p.Kick, p.Redact, p.Invite, p.EventsDefault, p.StateDefault, p.UsersDefault}
		want := []int64{50, 50, 50, 0, 0, 50, 0}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("defaults = %v, want %v", got, want)
				break
			}
		}
		if l := p.NotificationLevel("room"); l != 50 {
			t.Errorf("notifications.room = %d", l)
		}
		creatorLevel := int64(100)
		if v.PrivilegedCreators {
			creatorLevel = Infinite
		}
		if l := p.UserLevel(alice); l != creatorLevel {
			t.Errorf("creator level = %d, want %d", l, creatorLevel)
		}
		if l := p.UserLevel(bob); l != 0 {
			t.Errorf("bob's level = %d", l)
		}
		if l := p.EventLevel("m.room.topic", true); l != 50 {
			t.Errorf("state level = %d", l)
		}
		if l := p.EventLevel("m.room.message", false); l != 0 {
			t.Errorf("message level = %d", l)
		}
	})
}

func TestPowerLevelsFrom_Content(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":42`)
		r.setPowerLevels(defaultPowerLevels(v, `"`+bob+`":42`, `"users_default":7`, `"notifications":{"room":20}`,
			`"events":{"m.room.name":30,"m.room.power_levels":100}`, `"state_default":40`, `"events_default":5`))
		p, err := PowerLevelsFrom(r.state, v)
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want int64
		}{
			{"bob", p.UserLevel(bob), 42},
			{"carol (users_default)", p.UserLevel(carol), 7},
			{"m.room.name", p.EventLevel(event.TypeName, true), 30},
			{"state_default", p.EventLevel(event.TypeTopic, true), 40},
			{"events_default", p.EventLevel("m.room.message", false), 5},
			{"notifications.room", p.NotificationLevel("room"), 20},
			{"notifications.other", p.NotificationLevel("other"), 50},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
			}
		}
		// In v12 creators have infinite power, above anything in users.
		if v.PrivilegedCreators && (p.UserLevel(alice) != Infinite || !p.Creators[alice]) {
			t.Errorf("v12 creator level = %d", p.UserLevel(alice))
		}
	})
}

// v1–v9 accept levels written as strings: "a single base 10 integer … with
// any number of leading zeroes", an optional sign, surrounding whitespace.
func TestPowerLevels_StringLevelsAcceptedBeforeV10(t *testing.T) {
	cases := map[string]int64{`"100"`: 100, `"000100"`: 100, `"+100"`: 100, `"-100"`: -100, `" 100 "`: 100,
		`" +100 "`: 100, `"\t50\n"`: 50, `"0"`: 0}
	versions(t, func(v *roomversion.Version) bool { return !v.IntegerPowerLevels }, func(t *testing.T, v *roomversion.Version) {
		for raw, want := range cases {
			got, err := parseLevel(raw, v)
			if err != nil || got != want {
				t.Errorf("parseLevel(%s) = %d, %v; want %d", raw, got, err, want)
			}
		}
		for _, bad := range []string{`"1.5"`, `"1e3"`, `"abc"`, `""`, `"+"`, `"--1"`, `"1 0"`, `"0x10"`, `"١٠"`,
			`"99999999999999999999"`, `true`, `[]`, `{}`} {
			if got, err := parseLevel(bad, v); err == nil {
				t.Errorf("parseLevel(%s) = %d, want an error", bad, got)
			}
		}
	})
}

// v1–v5 (lenient canonical JSON) accept floats: "exponential notation is
// applied … the value is truncated at the decimal point".
func TestPowerLevels_FloatLevelsTruncatedV1ToV5(t *testing.T) {
	cases := map[string]int64{`50.57`: 50, `5.114698E4`: 51146, `5.114698e+4`: 51146, `-1.9`: -1, `100.0`: 100, `1e3`: 1000}
	versions(t, func(v *roomversion.Version) bool { return !v.StrictCanonicalJSON }, func(t *testing.T, v *roomversion.Version) {
		for raw, want := range cases {
			got, err := parseLevel(raw, v)
			if err != nil || got != want {
				t.Errorf("parseLevel(%s) = %d, %v; want %d", raw, got, err, want)
			}
		}
		if _, err := parseLevel(`1e400`, v); err == nil {
			t.Error("a float outside binary64 must be rejected")
		}

		// End to end: the floaty example of the spec gives bob and alice 50.
		r := newRoom(t, v, "")
		r.setPowerLevels(`{"ban":50,"events":{"m.room.power_levels":100},"events_default":0,"state_default":50,` +
			`"users":{"` + alice + `":100,"` + bob + `":50.57,"` + carol + `":50},"users_default":0}`)
		p, err := PowerLevelsFrom(r.state, v)
		if err != nil {
			t.Fatal(err)
		}
		if p.UserLevel(bob) != 50 || p.UserLevel(carol) != 50 {
			t.Errorf("bob %d, carol %d; want 50 and 50", p.UserLevel(bob), p.UserLevel(carol))
		}
	})
}

// String power levels: accepted in v1–v9 (the stringy fragment's example),
// rejected in v10+ by rules 9.1–9.3: "If any of the properties … are present
// and not an integer, reject."
func TestAuth_PowerLevels_StringLevels(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		users := `"users":{"` + alice + `":"100"}`
		if v.PrivilegedCreators {
			users = `"users":{"` + bob + `":"10"}`
		}
		stringy := `{"ban":"50","events":{"m.room.power_levels":"100"},"events_default":"0","state_default":"50",` + users + `,"users_default":"0"}`
		e := r.stateEvent(alice, event.TypePowerLevels, "", stringy)
		if v.IntegerPowerLevels {
			deny(t, r, e, ruleNo(v, "powerlevels", "ints")+"–3")
		} else {
			allow(t, r, e)
			r.mustSend(e)
			p, err := PowerLevelsFrom(r.state, v)
			if err != nil || p.Ban != 50 || p.EventLevel(event.TypePowerLevels, true) != 100 {
				t.Errorf("stringy levels read as %+v, %v", p, err)
			}
		}
	})
}

// v10+ rules 9.1–9.3 individually (10.1–10.3 in v12).
func TestAuth_PowerLevels_V10RequiresIntegers(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.IntegerPowerLevels }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		for _, top := range []string{`"kick":"50"`, `"invite":null`, `"redact":true`, `"events":[]`, `"events":{"m.room.name":"50"}`,
			`"notifications":{"room":"50"}`, `"notifications":5`, `"users":[]`, `"users":{"` + bob + `":"5"}`,
			`"users":{"bob":5}`} {
			deny(t, r, r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, "", top)), ruleNo(v, "powerlevels", "ints")+"–3")
		}
	})
}

// Rule 10.1 (v1–v5) / 9.1 (v6–v9): "If the users property in content is not
// an object with keys that are valid user IDs with values that are integers
// (or a string that is an integer), reject."
func TestAuth_PowerLevels_UsersMustBeUserIDsToIntegers(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.IntegerPowerLevels }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		for _, top := range []string{`"users":{"bob":5}`, `"users":{"` + bob + `":"five"}`, `"users":{"` + bob + `":[]}`, `"users":7`} {
			deny(t, r, r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, "", top)), ruleNo(v, "powerlevels", "users"))
		}
		// null counts as absent, as in Synapse.
		allow(t, r, r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, "", `"kick":null`)))
	})
}

// v12 rule 10.4: "If the users property in content contains the sender of
// the m.room.create event or any of the additional_creators array … reject."
func TestAuth_PowerLevels_CreatorsInUsersRejected(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.PrivilegedCreators }, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, `"additional_creators":["`+carol+`"]`)
		r.mustSend(r.member(alice, alice, event.Join, ""))
		// Even the first power levels event may not list a creator.
		deny(t, r, r.stateEvent(alice, event.TypePowerLevels, "", `{"users":{"`+alice+`":100}}`), ruleNo(v, "powerlevels", "creators"))
		deny(t, r, r.stateEvent(alice, event.TypePowerLevels, "", `{"users":{"`+carol+`":0}}`), ruleNo(v, "powerlevels", "creators"))
		allow(t, r, r.stateEvent(alice, event.TypePowerLevels, "", `{"users":{"`+bob+`":100}}`))
	})
}

// Rule 10.5 (v12) / 9.4 / 9.2 / 10.2: "If there is no previous
// m.room.power_levels event in the room, allow."
func TestAuth_PowerLevels_FirstEventAllowsAnything(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		r := newBareRoom(t, v, "")
		r.mustSend(r.member(alice, alice, event.Join, ""))
		allow(t, r, r.stateEvent(alice, event.TypePowerLevels, "", `{"ban":9000,"users":{"`+bob+`":9000}}`))
	})
}

// The classic escalation attacks, from a moderator (bob, 50) who may send
// power_levels. Rules 10.6–10.10 (v12), 9.5–9.9 (v10–v11), 9.3–9.7
// (v6–v9), 10.3–10.7 (v1–v5).
func TestAuth_PowerLevels_Escalation(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		users := `"` + bob + `":50,"` + carol + `":50,"` + dave + `":10`
		base := func(extra ...string) string {
			return defaultPowerLevels(v, users, append([]string{`"events":{"m.room.power_levels":50,"m.room.name":50,"m.room.tombstone":100}`,
				`"notifications":{"room":50}`}, extra...)...)
		}
		r := newRoom(t, v, users)
		r.join(bob, carol, dave)
		r.setPowerLevels(base())
		pl := func(users string, top ...string) *event.Event {
			return r.stateEvent(bob, event.TypePowerLevels, "", defaultPowerLevels(v, users, append([]string{
				`"events":{"m.room.power_levels":50,"m.room.name":50,"m.room.tombstone":100}`, `"notifications":{"room":50}`}, top...)...))
		}
		allow(t, r, pl(users)) // no change at all

		// Raising one's own level.
		deny(t, r, pl(`"`+bob+`":51,"`+carol+`":50,"`+dave+`":10`), ruleNo(v, "powerlevels", "usersnew")+".1")
		// Lowering one's own level is fine.
		allow(t, r, pl(`"`+bob+`":40,"`+carol+`":50,"`+dave+`":10`))
		// Lowering (or removing) someone at an equal level.
		deny(t, r, pl(`"`+bob+`":50,"`+carol+`":0,"`+dave+`":10`), ruleNo(v, "powerlevels", "usersold")+".1")
		deny(t, r, pl(`"`+bob+`":50,"`+dave+`":10`), ruleNo(v, "powerlevels", "usersold")+".1")
		// Lowering someone below is fine, and so is promoting up to one's own level.
		allow(t, r, pl(`"`+bob+`":50,"`+carol+`":50,"`+dave+`":0`))
		allow(t, r, pl(`"`+bob+`":50,"`+carol+`":50,"`+dave+`":50`))
		// Adding a user above one's own level.
		deny(t, r, pl(users+`,"`+mallory+`":51`), ruleNo(v, "powerlevels", "usersnew")+".1")
		allow(t, r, pl(users+`,"`+mallory+`":50`))

		// events: adding or raising above one's level, changing an entry above it.
		deny(t, r, pl(users, `"events":{"m.room.power_levels":50,"m.room.name":51,"m.room.tombstone":100}`), ruleNo(v, "powerlevels", "eventsnew")+".1")
		deny(t, r, pl(users, `"events":{"m.room.power_levels":50,"m.room.name":50,"m.room.tombstone":100,"m.x":60}`), ruleNo(v, "powerlevels", "eventsnew")+".1")
		deny(t, r, pl(users, `"events":{"m.room.power_levels":50,"m.room.name":50,"m.room.tombstone":0}`), ruleNo(v, "powerlevels", "eventsold")+".1")
		deny(t, r, pl(users, `"events":{"m.room.power_levels":50,"m.room.name":50}`), ruleNo(v, "powerlevels", "eventsold")+".1")
		allow(t, r, pl(users, `"events":{"m.room.power_levels":50,"m.room.name":0,"m.room.tombstone":100}`))

		// Top-level levels: old or new value above the sender's.
		deny(t, r, pl(users, `"ban":51`), ruleNo(v, "powerlevels", "toplevel")+".2")
		allow(t, r, pl(users, `"ban":10`))
		allow(t, r, pl(users, `"users_default":50`))
		r.setPowerLevels(base(`"kick":60`))
		deny(t, r, pl(users, `"kick":40`), ruleNo(v, "powerlevels", "toplevel")+".1")
		deny(t, r, pl(users), ruleNo(v, "powerlevels", "toplevel")+".1") // removing kick:60
		allow(t, r, pl(users, `"kick":60`, `"ban":40`))
	})
}

// Changes to notifications are checked like events from v6 (MSC2209); v1–v5
// ignore them.
func TestAuth_PowerLevels_NotificationsFromV6(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		users := `"` + bob + `":50`
		r := newRoom(t, v, users)
		r.join(bob)
		r.setPowerLevels(defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`, `"notifications":{"room":80}`))
		lower := r.stateEvent(bob, event.TypePowerLevels, "", defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`, `"notifications":{"room":0}`))
		raise := r.stateEvent(bob, event.TypePowerLevels, "", defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`, `"notifications":{"room":80,"x":60}`))
		if v.NotificationsPowerLevels {
			deny(t, r, lower, ruleNo(v, "powerlevels", "eventsold")+".1")
			deny(t, r, raise, ruleNo(v, "powerlevels", "eventsnew")+".1")
		} else {
			allow(t, r, lower)
			allow(t, r, raise)
		}
	})
}

// A value that changes only in spelling ("50" → 50) is not a change.
func TestAuth_PowerLevels_SameValueDifferentSpellingIsNoChange(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.IntegerPowerLevels }, func(t *testing.T, v *roomversion.Version) {
		users := `"` + bob + `":50`
		r := newRoom(t, v, users)
		r.join(bob)
		r.setPowerLevels(defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`, `"kick":"60"`))
		allow(t, r, r.stateEvent(bob, event.TypePowerLevels, "", defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`, `"kick":60`)))
	})
}

// v12: a creator's power is infinite, so a creator may change anything
// (except list creators in users), and nobody can out-rank one.
func TestAuth_PowerLevels_CreatorsHaveInfinitePower(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return v.PrivilegedCreators }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, `"`+bob+`":9007199254740991`)
		r.join(bob)
		allow(t, r, r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, `"`+bob+`":0`, `"ban":9007199254740991`)))
		p, _ := PowerLevelsFrom(r.state, v)
		if p.UserLevel(alice) <= p.UserLevel(bob) {
			t.Error("creator must out-rank the highest representable level")
		}
	})
}

// Power levels in the room state that cannot be read (here applied without
// being authorised) make every check that needs them fail, rather than
// silently falling back to defaults.
func TestAuth_PowerLevels_UnreadableCurrentLevelsReject(t *testing.T) {
	versions(t, func(v *roomversion.Version) bool { return !v.IntegerPowerLevels }, func(t *testing.T, v *roomversion.Version) {
		r := newRoom(t, v, "")
		r.join(bob)
		r.apply(r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, "", `"events_default":"lots"`)))
		if _, err := PowerLevelsFrom(r.state, v); err == nil {
			t.Error("PowerLevelsFrom accepted events_default \"lots\"")
		}
		deny(t, r, r.message(bob, "m.room.message", `{}`), ruleNo(v, "required"))
	})
}

// The power levels rule applies to every event of the type ("If type is
// m.room.power_levels"), whatever its state_key: its content must be
// well-formed, and it is compared with the previous event of the same
// state_key, as Synapse does.
func TestAuth_PowerLevels_OddStateKeys(t *testing.T) {
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		users := `"` + bob + `":50`
		r := newRoom(t, v, users)
		r.join(bob)
		r.setPowerLevels(defaultPowerLevels(v, users, `"events":{"m.room.power_levels":50}`))
		deny(t, r, r.stateEvent(bob, event.TypePowerLevels, "x", `{"users":{"bob":1}}`), "")
		deny(t, r, r.message(bob, event.TypePowerLevels, `{"users":{"bob":1}}`), "")
		// No previous event with that key: anything well-formed goes.
		allow(t, r, r.stateEvent(bob, event.TypePowerLevels, "x", `{"ban":100}`))
		allow(t, r, r.message(bob, event.TypePowerLevels, `{"ban":100}`))
		r.mustSend(r.stateEvent(alice, event.TypePowerLevels, "x", `{"ban":100}`))
		deny(t, r, r.stateEvent(bob, event.TypePowerLevels, "x", `{"ban":0}`), ruleNo(v, "powerlevels", "toplevel")+".1")
	})
}
