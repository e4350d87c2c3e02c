package ids

import (
	"errors"
	"strings"
	"testing"
)

// Appendices, Room Aliases: "#" localpart ":" server, localpart any
// non-surrogate Unicode except ":" and NUL, at most 255 bytes in all.
func TestParseRoomAlias(t *testing.T) {
	fits := strings.Repeat("a", 253-len("example.org"))
	tests := []struct {
		name   string
		in     string
		local  string
		server ServerName
		ok     bool
	}{
		{"plain", "#room:example.org", "room", "example.org", true},
		{"spec example", "#exampleroom:matrix.org", "exampleroom", "matrix.org", true},
		{"upper case", "#Room:example.org", "Room", "example.org", true},
		{"unicode", "#café☕:example.org", "café☕", "example.org", true},
		{"punctuation", "#a!b@c#d$:example.org", "a!b@c#d$", "example.org", true},
		{"server with port", "#room:example.org:8448", "room", "example.org:8448", true},
		{"IPv6 server", "#room:[::1]:8448", "room", "[::1]:8448", true},
		{"255 bytes", "#" + fits + ":example.org", fits, "example.org", true},

		{"256 bytes", "#" + fits + "a:example.org", "", "", false},
		{"empty localpart", "#:example.org", "", "", false},
		{"NUL", "#a\x00:example.org", "", "", false},
		{"invalid UTF-8", "#\xc3:example.org", "", "", false},
		{"no server", "#room", "", "", false},
		{"bad server", "#room:bad_server", "", "", false},
		{"empty server", "#room:", "", "", false},
		{"wrong sigil", "@room:example.org", "", "", false},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseRoomAlias(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseRoomAlias(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidRoomAlias) {
					t.Errorf("error %v does not wrap ErrInvalidRoomAlias", err)
				}
				return
			}
			if a.Localpart != tt.local || a.Server != tt.server {
				t.Errorf("ParseRoomAlias(%q) = %+v, want %q, %q", tt.in, a, tt.local, tt.server)
			}
			if a.String() != tt.in {
				t.Errorf("String() = %q, want %q", a.String(), tt.in)
			}
		})
	}
}

func TestParseRoomAlias_TooLongWrapsErrTooLong(t *testing.T) {
	_, err := ParseRoomAlias("#" + strings.Repeat("a", 300) + ":example.org")
	if !errors.Is(err, ErrTooLong) || !errors.Is(err, ErrInvalidRoomAlias) {
		t.Fatalf("err = %v, want ErrInvalidRoomAlias and ErrTooLong", err)
	}
}
