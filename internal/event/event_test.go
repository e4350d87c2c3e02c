package event

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

func sp(s string) *string { return &s }

type ring map[string]ed25519.PublicKey // "server/keyID" → key

func (r ring) VerifyKey(server string, id signing.KeyID, ts int64) (ed25519.PublicKey, bool) {
	k, ok := r[server+"/"+string(id)]
	return k, ok
}

// buildCreate builds a create event as a room's first event for version v.
func buildCreate(t testing.TB, v *roomversion.Version, key signing.SigningKey) *Event {
	t.Helper()
	content := `{"room_version":"` + string(v.ID) + `"}`
	if !v.CreatorIsSender {
		content = `{"creator":"@alice:hs1","room_version":"` + string(v.ID) + `"}`
	}
	b := Builder{Type: TypeCreate, StateKey: sp(""), Sender: "@alice:hs1", RoomID: "!room:hs1",
		Content: json.RawMessage(content), Depth: 1, OriginServerTS: 1000, EventID: "$create:hs1", Origin: "hs1"}
	if v.RoomIDFromCreateEvent() {
		b.RoomID = ""
	}
	e, err := b.Build(v, "hs1", key)
	if err != nil {
		t.Fatalf("build create: %v", err)
	}
	return e
}

func TestBuildThenParseRoundTripsInEveryVersion(t *testing.T) {
	key := specKey(t)
	for _, v := range roomversion.All() {
		t.Run(string(v.ID), func(t *testing.T) {
			create := buildCreate(t, v, key)
			msg := Builder{Type: TypeMessage, Sender: "@alice:hs1", RoomID: create.RoomID(),
				Content: json.RawMessage(`{"body":"hi","msgtype":"m.text"}`), Depth: 2, OriginServerTS: 2000,
				PrevEvents: []string{create.EventID()}, EventID: "$msg:hs1", Origin: "hs1"}
			if v.CreateEventInAuthEvents {
				msg.AuthEvents = []string{create.EventID()}
			}
			e, err := msg.Build(v, "hs1", key)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(e.FederationJSON(), v)
			if err != nil {
				t.Fatalf("parse own event: %v", err)
			}
			if again.EventID() != e.EventID() || string(again.JSON()) != string(e.JSON()) {
				t.Errorf("round trip changed the event: %s vs %s", again.EventID(), e.EventID())
			}
			if !again.CheckContentHash() {
				t.Error("content hash of a freshly built event must verify")
			}
			if err := again.VerifySignatures(ring{"hs1/ed25519:1": key.Public()}); err != nil {
				t.Errorf("signature: %v", err)
			}
			if got := again.PrevEventIDs(); len(got) != 1 || got[0] != create.EventID() {
				t.Errorf("prev events = %v", got)
			}
			if again.RoomID() != create.RoomID() || again.Depth() != 2 || again.OriginServerTS() != 2000 {
				t.Error("fields lost in round trip")
			}
		})
	}
}

// Event ID formats: rooms/fragments/v1-event-ids.md, v3.md, v4-event-ids.md.
func TestEventIDFormatPerVersion(t *testing.T) {
	key := specKey(t)
	for _, v := range roomversion.All() {
		e := buildCreate(t, v, key)
		id := e.EventID()
		switch v.EventFormat {
		case roomversion.EventFormatV1:
			if id != "$create:hs1" {
				t.Errorf("v%s: sender-assigned ID expected, got %s", v.ID, id)
			}
		case roomversion.EventFormatV3:
			if len(id) != 44 || strings.ContainsAny(id, "-_=") {
				t.Errorf("v%s: want $ + 43 chars of standard base64, got %s", v.ID, id)
			}
		case roomversion.EventFormatV4:
			if len(id) != 44 || strings.ContainsAny(id, "+/=") {
				t.Errorf("v%s: want $ + 43 chars of URL-safe base64, got %s", v.ID, id)
			}
		}
	}
}

// rooms/v12.md: the room ID is the create event's ID with "!" for "$", and
// the create event itself has no room_id.
func TestV12RoomIDIsDerivedFromCreateEvent(t *testing.T) {
	v := roomversion.MustGet("12")
	e := buildCreate(t, v, specKey(t))
	if e.RoomID() != "!"+e.EventID()[1:] {
		t.Fatalf("room ID %s does not match event ID %s", e.RoomID(), e.EventID())
	}
	if strings.Contains(string(e.JSON()), `"room_id"`) {
		t.Error("v12 create event must not contain room_id")
	}
	var obj map[string]any
	_ = json.Unmarshal(e.JSON(), &obj)
	obj["room_id"] = e.RoomID()
	withRoomID, _ := json.Marshal(obj)
	if _, err := Parse(withRoomID, v); !errors.Is(err, ErrBadFormat) {
		t.Errorf("a v12 create event with room_id must be refused, got %v", err)
	}
}

func TestParseRejectsMalformedPDUs(t *testing.T) {
	v := roomversion.MustGet("10")
	valid := `{"type":"m.room.message","sender":"@a:hs","room_id":"!r:hs","content":{},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`
	mutate := func(field string, value any) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(valid), &m)
		if value == nil {
			delete(m, field)
		} else {
			m[field] = value
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := map[string]string{
		"not JSON":                 `{"type":`,
		"not an object":            `[1,2]`,
		"missing type":             mutate("type", nil),
		"missing sender":           mutate("sender", nil),
		"sender not a user ID":     mutate("sender", "alice"),
		"missing room_id":          mutate("room_id", nil),
		"content not an object":    mutate("content", "text"),
		"missing depth":            mutate("depth", nil),
		"negative depth":           mutate("depth", -1),
		"depth as string":          mutate("depth", "1"),
		"missing hashes":           mutate("hashes", nil),
		"missing signatures":       mutate("signatures", nil),
		"prev_events not a list":   mutate("prev_events", "$x"),
		"too many prev_events":     mutate("prev_events", make21IDs()),
		"too many auth_events":     mutate("auth_events", make21IDs()[:11]),
		"bad event ID in prev":     mutate("prev_events", []string{"nope"}),
		"float in strict version":  mutate("origin_server_ts", 1.5),
		"type over 255 bytes":      mutate("type", strings.Repeat("t", 256)),
		"state_key over 255 bytes": mutate("state_key", strings.Repeat("k", 256)),
		"duplicate keys":           `{"type":"a","type":"b","sender":"@a:hs","room_id":"!r:hs","content":{},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`,
		"v1-style pairs in v10":    mutate("prev_events", [][]any{{"$a:hs", map[string]string{}}}),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(in), v); !errors.Is(err, ErrBadFormat) {
				t.Errorf("want ErrBadFormat, got %v", err)
			}
		})
	}
	if _, err := Parse([]byte(valid), v); err != nil {
		t.Fatalf("baseline must parse: %v", err)
	}
}

func make21IDs() []string {
	ids := make([]string, 21)
	for i := range ids {
		ids[i] = "$e" + string(rune('a'+i))
	}
	return ids
}

// client-server-api "Size limits": 65536 bytes including signatures.
func TestParseRejectsEventsOverSizeLimit(t *testing.T) {
	v := roomversion.MustGet("12")
	body := strings.Repeat("x", MaxEventBytes)
	in := `{"type":"m.room.message","sender":"@a:hs","room_id":"!r:hs","content":{"body":"` + body + `"},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`
	if _, err := Parse([]byte(in), v); !errors.Is(err, ErrTooLarge) {
		t.Errorf("want ErrTooLarge, got %v", err)
	}
}

// Room v1-v5 do not enforce canonical JSON (rooms/fragments/v1-canonical-json.md).
func TestLegacyVersionsAcceptFloats(t *testing.T) {
	in := `{"type":"m.room.message","sender":"@a:hs","room_id":"!r:hs","content":{"n":1.5},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`
	if _, err := Parse([]byte(in), roomversion.MustGet("5")); err != nil {
		t.Errorf("v5 must accept a float in content: %v", err)
	}
	if _, err := Parse([]byte(in), roomversion.MustGet("6")); err == nil {
		t.Error("v6 must reject a float in content")
	}
}

func TestV3PlusIgnoresReceivedEventID(t *testing.T) {
	v := roomversion.MustGet("4")
	e := buildCreate(t, v, specKey(t))
	var obj map[string]any
	_ = json.Unmarshal(e.JSON(), &obj)
	obj["event_id"] = "$forged"
	b, _ := json.Marshal(obj)
	again, err := Parse(b, v)
	if err != nil {
		t.Fatal(err)
	}
	if again.EventID() != e.EventID() {
		t.Error("the event ID in v3+ is the reference hash, whatever the sender claims")
	}
}

func TestTamperedContentFailsHashCheckButKeepsEventID(t *testing.T) {
	v := roomversion.MustGet("12")
	key := specKey(t)
	create := buildCreate(t, v, key)
	b := Builder{Type: TypeMessage, Sender: "@alice:hs1", RoomID: create.RoomID(), Content: json.RawMessage(`{"body":"original"}`),
		Depth: 2, OriginServerTS: 5, PrevEvents: []string{create.EventID()}}
	e, _ := b.Build(v, "hs1", key)
	tampered := strings.Replace(string(e.JSON()), "original", "tampered", 1)
	te, err := Parse([]byte(tampered), v)
	if err != nil {
		t.Fatal(err)
	}
	if te.CheckContentHash() {
		t.Error("tampered content must fail the content hash check")
	}
	// Message content is redacted away, so the reference hash (the ID) and the
	// signature over the redacted form still hold: that is why the spec says
	// to redact, not drop, on hash mismatch.
	if te.EventID() != e.EventID() {
		t.Error("event ID covers only the redacted form")
	}
	if err := te.VerifySignatures(ring{"hs1/ed25519:1": key.Public()}); err != nil {
		t.Errorf("signature over the redacted form must still verify: %v", err)
	}
}

func TestVerifySignaturesRejectsForgeriesAndUnknownKeys(t *testing.T) {
	v := roomversion.MustGet("12")
	key := specKey(t)
	other, _ := signing.NewSigningKey("1", make([]byte, 32))
	e := buildCreate(t, v, key)
	if err := e.VerifySignatures(ring{"hs1/ed25519:1": other.Public()}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a signature checked against the wrong key must fail, got %v", err)
	}
	if err := e.VerifySignatures(ring{}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("no known key means no valid signature, got %v", err)
	}
	// A server other than the sender's signing does not satisfy the sender's.
	forged := Builder{Type: TypeMessage, Sender: "@mallory:hs2", RoomID: e.RoomID(), Content: json.RawMessage(`{}`), Depth: 2, OriginServerTS: 1, PrevEvents: []string{e.EventID()}}
	fe, _ := forged.Build(v, "hs1", key)
	if err := fe.VerifySignatures(ring{"hs1/ed25519:1": key.Public()}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("event from @mallory:hs2 signed only by hs1 must fail, got %v", err)
	}
}

func TestRequiredSigners(t *testing.T) {
	key := specKey(t)
	v1 := roomversion.MustGet("1")
	b := Builder{Type: TypeMessage, Sender: "@a:hs2", RoomID: "!r:hs1", Content: json.RawMessage(`{}`), Depth: 1, OriginServerTS: 1, EventID: "$e:hs3"}
	e, err := b.Build(v1, "hs2", key)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.RequiredSigners(); strings.Join(got, ",") != "hs2,hs3" {
		t.Errorf("v1 needs sender and event ID servers, got %v", got)
	}
	v8 := roomversion.MustGet("8")
	j := Builder{Type: TypeMember, StateKey: sp("@a:hs2"), Sender: "@a:hs2", RoomID: "!r:hs1",
		Content: json.RawMessage(`{"membership":"join","join_authorised_via_users_server":"@admin:hs1"}`), Depth: 1, OriginServerTS: 1}
	je, _ := j.Build(v8, "hs2", key)
	if got := je.RequiredSigners(); strings.Join(got, ",") != "hs1,hs2" {
		t.Errorf("restricted join needs the authorising server too, got %v", got)
	}
}

// A third-party invite is built by the inviter's server (answering
// /exchange_third_party_invite) or, by Synapse, by the invitee's server in
// the inviter's name: whichever of the two signed it must have.
func TestRequiredSigners_ThirdPartyInvite(t *testing.T) {
	key := specKey(t)
	v := roomversion.MustGet("10")
	tpi := Builder{Type: TypeMember, StateKey: sp("@bob:hs3"), Sender: "@alice:hs1", RoomID: "!r:hs1",
		Content: json.RawMessage(`{"membership":"invite","third_party_invite":{"display_name":"b...","signed":{"mxid":"@bob:hs3","token":"t","signatures":{"id.test":{"ed25519:0":"x"}}}}}`),
		Depth:   1, OriginServerTS: 1}
	byInviter, _ := tpi.Build(v, "hs1", key)
	if got := byInviter.RequiredSigners(); strings.Join(got, ",") != "hs1" {
		t.Errorf("signed by the inviter's server: want hs1, got %v", got)
	}
	byInvitee, _ := tpi.Build(v, "hs3", key)
	if got := byInvitee.RequiredSigners(); strings.Join(got, ",") != "hs3" {
		t.Errorf("signed by the invitee's server only: want hs3, got %v", got)
	}
}

func TestRedactsLocationPerVersion(t *testing.T) {
	key := specKey(t)
	for _, id := range []roomversion.ID{"10", "11"} {
		v := roomversion.MustGet(id)
		b := Builder{Type: TypeRedaction, Sender: "@a:hs1", RoomID: "!r:hs1", Redacts: "$target", Depth: 1, OriginServerTS: 1}
		e, err := b.Build(v, "hs1", key)
		if err != nil {
			t.Fatal(err)
		}
		if e.Redacts() != "$target" {
			t.Errorf("v%s: Redacts() = %q", id, e.Redacts())
		}
		inContent := strings.Contains(string(e.Content()), "redacts")
		if inContent != v.RedactsInContent {
			t.Errorf("v%s: redacts in content = %v", id, inContent)
		}
		// v11 keeps content.redacts through redaction; before v11 the
		// top-level field is not on the keep list.
		if kept := e.Redacted().Redacts() == "$target"; kept != v.RedactsInContent {
			t.Errorf("v%s: redacts survives redaction = %v", id, kept)
		}
	}
}

// Keys are case-sensitive: a "Type" or "Membership" key is a different key,
// and reading it as the real one would split us from other servers.
func TestFieldNamesAreCaseSensitive(t *testing.T) {
	v := roomversion.MustGet("10")
	in := `{"Type":"m.room.member","type":"m.room.message","sender":"@a:hs","room_id":"!r:hs","content":{"Membership":"join"},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`
	e, err := Parse([]byte(in), v)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != "m.room.message" {
		t.Errorf("type = %q", e.Type())
	}
	member := `{"type":"m.room.member","state_key":"@a:hs","sender":"@a:hs","room_id":"!r:hs","content":{"Membership":"join"},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`
	m, err := Parse([]byte(member), v)
	if err != nil {
		t.Fatal(err)
	}
	if m.Membership() != "" {
		t.Errorf("content.Membership must not count as membership, got %q", m.Membership())
	}
}

func TestParseTrustedMatchesParse(t *testing.T) {
	key := specKey(t)
	for _, v := range roomversion.All() {
		e := buildCreate(t, v, key).WithUnsigned(json.RawMessage(`{"age_ts":5}`))
		got, err := ParseTrusted(e.FederationJSON(), v, e.EventID())
		if err != nil {
			t.Fatal(err)
		}
		if got.EventID() != e.EventID() || string(got.JSON()) != string(e.JSON()) || got.RoomID() != e.RoomID() || string(got.Unsigned()) != `{"age_ts":5}` {
			t.Errorf("v%s: trusted parse differs", v.ID)
		}
	}
}

// An event holds its content once: Content is the "content" value inside
// its JSON, for built, parsed, trusted and redacted events alike, and a
// caller appending to it cannot write into the JSON.
func TestContentIsTheJSONsContentValue(t *testing.T) {
	key := specKey(t)
	v := roomversion.MustGet("10")
	built := buildCreate(t, v, key)
	parsed, err := Parse(built.FederationJSON(), v)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := ParseTrusted(built.FederationJSON(), v, built.EventID())
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*Event{"built": built, "parsed": parsed, "trusted": trusted, "redacted": built.Redacted()} {
		var whole map[string]json.RawMessage
		if err := json.Unmarshal(e.JSON(), &whole); err != nil {
			t.Fatal(err)
		}
		if string(e.Content()) != string(whole["content"]) {
			t.Errorf("%s: content %s, JSON's content %s", name, e.Content(), whole["content"])
		}
		js, c := uintptr(unsafe.Pointer(unsafe.SliceData(e.JSON()))), uintptr(unsafe.Pointer(unsafe.SliceData(e.Content())))
		if c < js || c+uintptr(len(e.Content())) > js+uintptr(len(e.JSON())) {
			t.Errorf("%s: content is a copy, not the JSON's bytes", name)
		}
		before := string(e.JSON())
		_ = append(e.Content(), `,"x":1}`...)
		if string(e.JSON()) != before {
			t.Errorf("%s: appending to Content changed the JSON", name)
		}
	}
}
