package eventauth

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// FuzzCheck builds member and power_levels events with random content (and
// state keys) in every room version and runs them through Check,
// CheckAuthEvents, AuthEventsNeeded and PowerLevelsFrom, both as the event
// being authorised and as the current state that later events are judged
// against. Nothing may panic, and Check must be deterministic.
func FuzzCheck(f *testing.F) {
	seeds := []struct {
		kind     uint8
		stateKey string
		content  string
	}{
		{0, bob, `{"membership":"join"}`},
		{0, bob, `{"membership":"invite","third_party_invite":{"signed":{"mxid":"@bob:b.test","token":"tok","signatures":{"id.test":{"ed25519:0":"AAAA"}}}}}`},
		{0, bob, `{"membership":"invite","third_party_invite":{"signed":[]}}`},
		{0, bob, `{"join_authorised_via_users_server":"@alice:a.test","membership":"join"}`},
		{0, bob, `{"join_authorised_via_users_server":5,"membership":"join"}`},
		{0, alice, `{"membership":"ban"}`},
		{0, bob, `{"membership":"knock"}`},
		{0, bob, `{"membership":null}`},
		{1, "", `{"users":{"@bob:b.test":"50"},"ban":" +0100 "}`},
		{1, "", `{"users":{"@bob:b.test":50.5},"events":{"m.room.name":1e3}}`},
		{1, "", `{"users":{"bob":1},"notifications":{"room":"x"}}`},
		{1, "", `{"users":{"@alice:a.test":-9007199254740991},"events":null,"kick":null}`},
		{1, "", `{"users":[],"events":"x","state_default":"99999999999999999999999"}`},
		{2, "", `{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!x:a.test"}]}`},
		{3, "", `{"room_version":"12","additional_creators":["@bob:b.test",1],"m.federate":false}`},
	}
	for _, s := range seeds {
		for _, vi := range []uint8{0, 5, 9, 11} {
			f.Add(vi, s.kind, s.stateKey, s.content)
		}
	}

	all := roomversion.All()
	rooms := make([]*room, len(all))
	// later are events judged against state that holds the fuzzed event;
	// they are built here because the rig's helpers call f.Helper, which
	// must not run inside the fuzz function.
	later := make([][]*event.Event, len(all))
	for i, v := range all {
		r := newRoom(f, v, `"`+bob+`":50`)
		r.join(bob, carol)
		rooms[i] = r
		later[i] = []*event.Event{
			r.message(carol, "m.room.message", `{}`),
			r.stateEvent(alice, event.TypePowerLevels, "", defaultPowerLevels(v, `"`+bob+`":10`)),
			r.member(dave, dave, event.Join, `"join_authorised_via_users_server":"`+bob+`"`),
			r.member(bob, carol, event.Ban, ""),
		}
	}
	types := []string{event.TypeMember, event.TypePowerLevels, event.TypeJoinRules, event.TypeCreate}

	f.Fuzz(func(t *testing.T, vi, kind uint8, stateKey, content string) {
		i := int(vi) % len(rooms)
		r := rooms[i]
		v := r.v
		typ := types[int(kind)%len(types)]
		sender := bob
		if kind&0x10 != 0 {
			sender = alice
		}
		b := &event.Builder{Type: typ, StateKey: &stateKey, Sender: sender, RoomID: r.id,
			Content: json.RawMessage(content), PrevEvents: r.latest, Depth: r.depth + 1,
			EventID: "$fuzz:b.test", Origin: "b.test"}
		if typ == event.TypeCreate && !v.CreateEventHasRoomID {
			b.RoomID = ""
		}
		auth, err := SelectAuthEvents(v, b, r.state)
		if err != nil {
			return // not a usable event (e.g. content is not an object)
		}
		b.AuthEvents = auth
		e, err := b.Build(v, "b.test", testKey)
		if err != nil {
			return
		}

		err1 := Check(e, r.state)
		err2 := Check(e, r.state)
		if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("Check is not deterministic: %v / %v", err1, err2)
		}
		_ = CheckAuthEvents(e, r.authEventsOf(e), func(string) bool { return false }, r.create)
		_, _ = AuthEventsNeeded(v, e.Type(), e.StateKey(), e.Sender(), e.Content())
		_ = Creators(e)

		// The same event as current state: later events are judged by it.
		state := make(StateMap, len(r.state)+1)
		for k, s := range r.state {
			state[k] = s
		}
		if tup, ok := e.Tuple(); ok && typ != event.TypeCreate {
			state[tup] = e
		}
		if p, err := PowerLevelsFrom(state, v); err == nil {
			_ = p.UserLevel(bob) + p.EventLevel("m.room.message", false) + p.NotificationLevel("room")
		}
		for _, next := range later[i] {
			_ = Check(next, state)
		}
	})
}

// FuzzParseLevels feeds arbitrary bytes, canonical or not, to the power
// levels parser and its JSON scanner: they must fail cleanly, never panic.
func FuzzParseLevels(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"users":{"@a:b":1}}`, `{"ban":"50","events":{"m.x":1.5}}`, `{"users":{"\u0040a:b":1}}`,
		`{"a":[1,{"b":"}"}],"ban":5}`, `{"ban":`, `{"ban":1,}`, `[]`, `{"users":{"@a:b":1}`, `{"k\"":"\\"}`,
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(9))
	}
	all := roomversion.All()
	f.Fuzz(func(t *testing.T, content string, vi uint8) {
		v := all[int(vi)%len(all)]
		c, err := parseLevels(json.RawMessage(content), v, true)
		if err == nil && c == nil {
			t.Fatal("nil content without an error")
		}
		_ = eachMember(content, func(k, val string) error {
			if _, err := skipValue(val, 0); err != nil {
				t.Fatalf("eachMember gave a value it cannot skip: %q", val)
			}
			return nil
		})
	})
}
