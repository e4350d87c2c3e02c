package ids

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// hashIDs returns one SHA-256 hash encoded in both base64 alphabets, picking
// a hash whose standard encoding has both "+" and "/" so that the alphabet
// matters.
func hashIDs(t *testing.T) (std, url string) {
	t.Helper()
	for i := 0; ; i++ {
		sum := sha256.Sum256([]byte{byte(i)})
		std = base64.RawStdEncoding.EncodeToString(sum[:])
		if strings.ContainsAny(std, "+") && strings.ContainsAny(std, "/") {
			return std, base64.RawURLEncoding.EncodeToString(sum[:])
		}
	}
}

// Appendices, Room IDs; rooms/v12: "!opaque:server" before v12,
// "!" + URL-safe unpadded base64 of the create event's reference hash in v12.
func TestValidRoomID(t *testing.T) {
	std, url := hashIDs(t)
	long := "!" + strings.Repeat("a", 253-len("example.org")) + ":example.org" // 255 bytes
	tests := []struct {
		name   string
		in     string
		ok     bool
		server ServerName
	}{
		{"spec example", "!636q39766251:example.com", true, "example.com"},
		{"spec example with localhost", "!Cuyf34gef24t:localhost", true, "localhost"},
		{"spec v12 example", "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ", true, ""},
		{"v12 real hash", "!" + url, true, ""},
		{"opaque with unicode", "!ünï:example.org", true, "example.org"},
		{"opaque with control char", "!a\x01:example.org", true, "example.org"},
		{"server with port", "!abc:example.org:8448", true, "example.org:8448"},
		{"server IPv6", "!abc:[::1]:8448", true, "[::1]:8448"},
		{"255 bytes", long, true, "example.org"},

		{"256 bytes", long[:1] + "a" + long[1:], false, ""},
		{"v12 with standard alphabet", "!" + std, false, ""},
		{"v12 too short", "!" + url[:42], false, ""},
		{"v12 too long", "!" + url + "A", false, ""},
		{"v12 padded", "!" + url[:42] + "=", false, ""},
		{"spec placeholder without server", "!some_room_id", false, ""},
		{"empty opaque", "!:example.org", false, ""},
		{"NUL in opaque", "!a\x00:example.org", false, ""},
		{"invalid UTF-8", "!\xff:example.org", false, ""},
		{"bad server", "!abc:example.org.", false, ""},
		{"empty server", "!abc:", false, ""},
		{"event sigil", "$abc:example.org", false, ""},
		{"just the sigil", "!", false, ""},
		{"empty", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidRoomID(tt.in); got != tt.ok {
				t.Fatalf("ValidRoomID(%q) = %v, want %v", tt.in, got, tt.ok)
			}
			server, ok := RoomIDServer(tt.in)
			if server != tt.server || ok != (tt.server != "") {
				t.Errorf("RoomIDServer(%q) = %q, %v; want %q", tt.in, server, ok, tt.server)
			}
		})
	}
}

// Appendices, Event IDs; rooms/v1 ($opaque:server), v3 (unpadded base64),
// v4+ (URL-safe unpadded base64).
func TestValidEventID(t *testing.T) {
	std, url := hashIDs(t)
	long := "$" + strings.Repeat("a", 253-len("example.org")) + ":example.org"
	tests := []struct {
		name   string
		in     string
		ok     bool
		server ServerName
	}{
		{"v1 spec example", "$143273582443PhrSn:example.org", true, "example.org"},
		{"v1 opaque with slash", "$a/b+c:example.org", true, "example.org"},
		{"v1 server with port", "$abc:example.org:8448", true, "example.org:8448"},
		{"v3 spec example", "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk", true, ""},
		{"v3 spec example 2", "$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o", true, ""},
		{"v3 real hash", "$" + std, true, ""},
		{"v4 spec example", "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", true, ""},
		{"v4 spec example with unused bits set", "$26RqwJMLw-yds1GAH_QxjHRC1Da9oasK0e5VLnck_45", true, ""},
		{"v4 real hash", "$" + url, true, ""},
		{"255 bytes", long, true, "example.org"},

		{"256 bytes", long[:1] + "a" + long[1:], false, ""},
		{"mixed alphabets", "$" + strings.Repeat("a", 40) + "+-A", false, ""},
		{"hash too short", "$" + url[:42], false, ""},
		{"hash too long", "$" + url + "A", false, ""},
		{"padded hash", "$" + url[:42] + "=", false, ""},
		{"spec placeholder without server", "$some_event_id", false, ""},
		{"empty opaque", "$:example.org", false, ""},
		{"NUL", "$a\x00:example.org", false, ""},
		{"bad server", "$abc:bad_server", false, ""},
		{"room sigil", "!" + url, false, ""},
		{"just the sigil", "$", false, ""},
		{"empty", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidEventID(tt.in); got != tt.ok {
				t.Fatalf("ValidEventID(%q) = %v, want %v", tt.in, got, tt.ok)
			}
			server, ok := EventIDServer(tt.in)
			if server != tt.server || ok != (tt.server != "") {
				t.Errorf("EventIDServer(%q) = %q, %v; want %q", tt.in, server, ok, tt.server)
			}
		})
	}
}

// rooms/v12: the room ID is the create event's ID with "!" for "$".
func TestRoomIDFromCreateEventID(t *testing.T) {
	std, url := hashIDs(t)
	roomID, ok := RoomIDFromCreateEventID("$" + url)
	if !ok || roomID != "!"+url || !ValidRoomID(roomID) {
		t.Fatalf("RoomIDFromCreateEventID($%s) = %q, %v", url, roomID, ok)
	}
	eventID, ok := CreateEventIDFromRoomID(roomID)
	if !ok || eventID != "$"+url {
		t.Fatalf("CreateEventIDFromRoomID(%q) = %q, %v", roomID, eventID, ok)
	}
	for _, bad := range []string{"$" + std, "$abc:example.org", "!" + url, "", "$"} {
		if got, ok := RoomIDFromCreateEventID(bad); ok {
			t.Errorf("RoomIDFromCreateEventID(%q) = %q, true; want false", bad, got)
		}
	}
	for _, bad := range []string{"!abc:example.org", "$" + url, "!" + std, "", "!"} {
		if got, ok := CreateEventIDFromRoomID(bad); ok {
			t.Errorf("CreateEventIDFromRoomID(%q) = %q, true; want false", bad, got)
		}
	}
}
