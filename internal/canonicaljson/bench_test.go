package canonicaljson

import (
	"os"
	"testing"
)

func loadPDU(b *testing.B) (pretty, canonical []byte) {
	b.Helper()
	pretty, err := os.ReadFile("testdata/pdu_message.json")
	if err != nil {
		b.Fatal(err)
	}
	canonical, err = Canonicalize(pretty, StrictOptions)
	if err != nil {
		b.Fatal(err)
	}
	return pretty, canonical
}

// A ~1 KB m.room.message PDU as received: indented, keys unsorted.
func BenchmarkCanonicalize_PDUUnsorted(b *testing.B) {
	pretty, _ := loadPDU(b)
	b.SetBytes(int64(len(pretty)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(pretty, StrictOptions); err != nil {
			b.Fatal(err)
		}
	}
}

// The same PDU already canonical, as most servers send it.
func BenchmarkCanonicalize_PDUCanonical(b *testing.B) {
	_, canonical := loadPDU(b)
	b.SetBytes(int64(len(canonical)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(canonical, StrictOptions); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValid_PDU(b *testing.B) {
	pretty, _ := loadPDU(b)
	b.SetBytes(int64(len(pretty)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Valid(pretty, StrictOptions); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIsCanonical_PDU(b *testing.B) {
	_, canonical := loadPDU(b)
	b.SetBytes(int64(len(canonical)))
	b.ReportAllocs()
	for b.Loop() {
		if !IsCanonical(canonical) {
			b.Fatal("not canonical")
		}
	}
}

func BenchmarkRemoveKeys_PDU(b *testing.B) {
	_, canonical := loadPDU(b)
	b.SetBytes(int64(len(canonical)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RemoveKeys(canonical, "signatures", "unsigned", "hashes"); err != nil {
			b.Fatal(err)
		}
	}
}

type benchContent struct {
	MsgType       string `json:"msgtype"`
	Body          string `json:"body"`
	Format        string `json:"format,omitempty"`
	FormattedBody string `json:"formatted_body,omitempty"`
}

type benchEvent struct {
	Type           string            `json:"type"`
	RoomID         string            `json:"room_id"`
	Sender         string            `json:"sender"`
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	Depth          int64             `json:"depth"`
	Content        benchContent      `json:"content"`
	PrevEvents     []string          `json:"prev_events"`
	AuthEvents     []string          `json:"auth_events"`
	Hashes         map[string]string `json:"hashes"`
}

func BenchmarkMarshal_EventStruct(b *testing.B) {
	ev := benchEvent{
		Type: "m.room.message", RoomID: "!OGEhHVWSdvArJzumhm:matrix.org", Sender: "@alice:example.org",
		Origin: "example.org", OriginServerTS: 1718000000000, Depth: 129387,
		Content: benchContent{MsgType: "m.text", Body: "Yes — all green on the 127.0.0.x rig <b>&</b> 🚀",
			Format: "org.matrix.custom.html", FormattedBody: "<p>Yes — all green on the 127.0.0.x rig</p>"},
		PrevEvents: []string{"$bkvW0mE0Tz8lXtCDwVdHVVS9z09XGU4pZ6xDvmpEwe0"},
		AuthEvents: []string{"$u6lYJ4ADX1gh7DQ1VUcqvLmIDcjAqeUBpYdKFXLiMlY", "$ifGv4IQTzvY3Ri1jE4zD7ZR2UbtsG-u7J2TjhRfC3XU"},
		Hashes:     map[string]string{"sha256": "ThisIsNotARealHashButItHasTheRightLength00"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}
