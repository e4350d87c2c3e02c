package ids

import (
	"fmt"
	"strings"
)

// RoomAlias is a parsed room alias, "#localpart:server" (appendices, Room
// Aliases).
type RoomAlias struct {
	Localpart string
	Server    ServerName
}

// String renders the alias as "#localpart:server".
func (a RoomAlias) String() string {
	return "#" + a.Localpart + ":" + string(a.Server)
}

// ParseRoomAlias parses "#" localpart ":" server_name, at most 255 bytes. The
// localpart may hold any non-surrogate Unicode except ":" and NUL. An empty
// localpart is rejected: the spec does not allow it explicitly, and no server
// has a reason to create "#:server".
func ParseRoomAlias(s string) (RoomAlias, error) {
	if len(s) > MaxIDLength {
		return RoomAlias{}, fmt.Errorf("%w: %w: %d bytes", ErrInvalidRoomAlias, ErrTooLong, len(s))
	}
	if len(s) == 0 || s[0] != '#' {
		return RoomAlias{}, fmt.Errorf("%w: %s does not start with '#'", ErrInvalidRoomAlias, quote(s))
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return RoomAlias{}, fmt.Errorf("%w: %s has no server name", ErrInvalidRoomAlias, quote(s))
	}
	local := s[1:colon]
	if local == "" || !validHistoricalLocalpart(local) {
		return RoomAlias{}, fmt.Errorf("%w: %s has an empty localpart, NUL or invalid UTF-8", ErrInvalidRoomAlias, quote(s))
	}
	server := s[colon+1:]
	if !ValidServerName(server) {
		return RoomAlias{}, fmt.Errorf("%w: %s has an invalid server name", ErrInvalidRoomAlias, quote(s))
	}
	return RoomAlias{Localpart: local, Server: ServerName(server)}, nil
}
