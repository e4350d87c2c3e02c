package event

import (
	"encoding/json"
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
