package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/roomversion"
)

func benchMessage(b *testing.B) (*Event, *roomversion.Version) {
	v := roomversion.MustGet("12")
	key := specKey(b)
	create := buildCreate(b, v, key)
	body := strings.Repeat("lorem ipsum ", 60) // a ~1 KB event
	mb := Builder{Type: TypeMessage, Sender: "@alice:hs1", RoomID: create.RoomID(), Content: json.RawMessage(`{"msgtype":"m.text","body":"` + body + `"}`),
		Depth: 12, OriginServerTS: 1700000000000, PrevEvents: []string{create.EventID()}}
	e, err := mb.Build(v, "hs1", key)
	if err != nil {
		b.Fatal(err)
	}
	return e, v
}

// BenchmarkParse covers validating, canonicalizing and computing the event
// ID of a received ~1 KB v12 message.
func BenchmarkParse(b *testing.B) {
	e, v := benchMessage(b)
	data := e.FederationJSON()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseTrusted is reading back an event from our own database.
func BenchmarkParseTrusted(b *testing.B) {
	e, v := benchMessage(b)
	data := e.FederationJSON()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseTrusted(data, v, e.EventID()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReferenceHash is the event ID computation alone.
func BenchmarkReferenceHash(b *testing.B) {
	e, _ := benchMessage(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = e.ReferenceHash()
	}
}

// BenchmarkBuild is hashing and signing a new ~1 KB message.
func BenchmarkBuild(b *testing.B) {
	e, v := benchMessage(b)
	key := specKey(b)
	mb := Builder{Type: TypeMessage, Sender: "@alice:hs1", RoomID: e.RoomID(), Content: e.Content(), Depth: 13,
		OriginServerTS: 1700000000001, PrevEvents: []string{e.EventID()}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := mb.Build(v, "hs1", key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySignatures is checking a received event's signature.
func BenchmarkVerifySignatures(b *testing.B) {
	e, _ := benchMessage(b)
	keys := ring{"hs1/ed25519:1": specKey(b).Public()}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := e.VerifySignatures(keys); err != nil {
			b.Fatal(err)
		}
	}
}

// roomEventsJSON is the JSON of rooms×6 events as a new v12 room holds them
// (create, the creator's join, power levels, join rules, history
// visibility, one message), each room from a different creator's server
// user, so that the rooms share nothing but the event types.
func roomEventsJSON(b *testing.B, rooms int) (data [][]byte, ids []string, v *roomversion.Version) {
	v = roomversion.MustGet("12")
	key := specKey(b)
	for r := range rooms {
		sender := fmt.Sprintf("@user%d:hs1", r)
		create, err := (&Builder{Type: TypeCreate, StateKey: sp(""), Sender: sender, Content: json.RawMessage(`{"room_version":"12"}`),
			Depth: 1, OriginServerTS: 1700000000000}).Build(v, "hs1", key)
		if err != nil {
			b.Fatal(err)
		}
		evs := []*Event{create}
		add := func(typ string, sk *string, content string, auth ...string) {
			prev := evs[len(evs)-1]
			e, err := (&Builder{Type: typ, StateKey: sk, Sender: sender, RoomID: create.RoomID(), Content: json.RawMessage(content),
				Depth: prev.Depth() + 1, OriginServerTS: prev.OriginServerTS() + 1, PrevEvents: []string{prev.EventID()},
				AuthEvents: auth}).Build(v, "hs1", key)
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, e)
		}
		add(TypeMember, &sender, `{"membership":"join","displayname":"User"}`)
		member := evs[1].EventID()
		add(TypePowerLevels, sp(""), `{"users":{"`+sender+`":100},"events_default":0,"state_default":50}`, member)
		pl := evs[2].EventID()
		add(TypeJoinRules, sp(""), `{"join_rule":"invite"}`, member, pl)
		add("m.room.history_visibility", sp(""), `{"history_visibility":"shared"}`, member, pl)
		add(TypeMessage, nil, `{"msgtype":"m.text","body":"hello"}`, member, pl)
		for _, e := range evs {
			data = append(data, e.JSON())
			ids = append(ids, e.EventID())
		}
	}
	return data, ids, v
}

// BenchmarkRetainedEvent reports the heap an event read back from the
// database keeps while it is held (in the event cache or a room's state):
// what a server holding tens of thousands of events pays for each.
func BenchmarkRetainedEvent(b *testing.B) {
	data, ids, v := roomEventsJSON(b, 500)
	held := make([]*Event, len(data))
	var before, after runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		clear(held)
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, d := range data {
			e, err := ParseTrusted(d, v, ids[i])
			if err != nil {
				b.Fatal(err)
			}
			held[i] = e
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	runtime.KeepAlive(held)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(held)), "retained-B/event")
	b.ReportMetric(float64(len(bytes.Join(data, nil)))/float64(len(held)), "json-B/event")
}
