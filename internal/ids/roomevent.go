package ids

import "strings"

// Room and event IDs come in two shapes (appendices, Room IDs and Event IDs):
//
//   - with a domain, "!opaque:server" (room versions 1–11) and
//     "$opaque:server" (event IDs in room versions 1–2), where opaque is any
//     non-surrogate Unicode except ":" and NUL;
//   - a reference hash (SHA-256, so 32 bytes) in unpadded base64: standard
//     alphabet for event IDs in room version 3, URL-safe alphabet for event
//     IDs in versions 4+ and for room IDs in version 12, which are the
//     create event's ID with "!" for "$" (rooms/v12).
//
// Base64 has no ":", so a ":" tells the shapes apart. The hash shape is exactly
// 43 characters. The two unused low bits of the last character are not
// checked, as Go's non-strict base64 decoders do not check them either: the
// spec's own examples include such IDs, and a non-canonical ID merely never
// matches a real event. Both shapes are limited to 255 bytes.

// hashIDLen is the length of unpadded base64 of a 32-byte SHA-256 hash.
const hashIDLen = 43

// ValidRoomID reports whether s is a room ID of any room version:
// "!opaque:server" or "!" + 43 characters of URL-safe unpadded base64.
func ValidRoomID(s string) bool {
	_, ok := splitSigilID(s, '!', false)
	return ok
}

// RoomIDServer returns the server part of a valid room ID; ok is false when
// the ID is invalid or has no server part (room version 12).
func RoomIDServer(s string) (ServerName, bool) {
	server, ok := splitSigilID(s, '!', false)
	return server, ok && server != ""
}

// ValidEventID reports whether s is an event ID of any room version:
// "$opaque:server" (v1–v2), or "$" + 43 characters of unpadded base64 in the
// standard (v3) or URL-safe (v4+) alphabet, not mixing the two.
func ValidEventID(s string) bool {
	_, ok := splitSigilID(s, '$', true)
	return ok
}

// EventIDServer returns the server part of a valid event ID; only the v1–v2
// format has one.
func EventIDServer(s string) (ServerName, bool) {
	server, ok := splitSigilID(s, '$', true)
	return server, ok && server != ""
}

// RoomIDFromCreateEventID gives the room version 12 room ID for the ID of its
// m.room.create event: the same URL-safe hash with "!" instead of "$". ok is
// false unless eventID is a URL-safe hash event ID.
func RoomIDFromCreateEventID(eventID string) (roomID string, ok bool) {
	if len(eventID) != 1+hashIDLen || eventID[0] != '$' || hashAlphabet(eventID[1:]) != urlSafeAlphabet {
		return "", false
	}
	return "!" + eventID[1:], true
}

// CreateEventIDFromRoomID is the inverse of RoomIDFromCreateEventID; ok is
// false unless roomID is in the room version 12 format.
func CreateEventIDFromRoomID(roomID string) (eventID string, ok bool) {
	if len(roomID) != 1+hashIDLen || roomID[0] != '!' || hashAlphabet(roomID[1:]) != urlSafeAlphabet {
		return "", false
	}
	return "$" + roomID[1:], true
}

// splitSigilID validates a room or event ID and returns its server part, or ""
// for the hash shape. allowStd permits the standard base64 alphabet (room
// version 3 event IDs).
func splitSigilID(s string, sigil byte, allowStd bool) (ServerName, bool) {
	if len(s) < 2 || len(s) > MaxIDLength || s[0] != sigil {
		return "", false
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		if len(s) != 1+hashIDLen {
			return "", false
		}
		switch hashAlphabet(s[1:]) {
		case urlSafeAlphabet:
			return "", true
		case stdAlphabet:
			return "", allowStd
		}
		return "", false
	}
	// An empty opaque part is rejected: the spec never shows one and no server
	// generates one.
	local, server := s[1:colon], s[colon+1:]
	if local == "" || !validHistoricalLocalpart(local) || !ValidServerName(server) {
		return "", false
	}
	return ServerName(server), true
}

type alphabet int

const (
	badAlphabet alphabet = iota
	stdAlphabet
	urlSafeAlphabet
)

// hashAlphabet classifies h as 43 characters of unpadded base64 (32 bytes)
// in the standard or URL-safe alphabet. A string using neither "+/"
// nor "-_" is valid in both and reported as URL-safe.
func hashAlphabet(h string) alphabet {
	if len(h) != hashIDLen {
		return badAlphabet
	}
	std, url := false, false
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		default:
			return badAlphabet
		}
	}
	if std && url {
		return badAlphabet
	}
	if std {
		return stdAlphabet
	}
	return urlSafeAlphabet
}
