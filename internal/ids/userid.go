package ids

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// UserID is a parsed Matrix user ID, "@localpart:server" (appendices, User
// Identifiers).
type UserID struct {
	Localpart string
	Server    ServerName
}

// String renders the user ID as "@localpart:server".
func (u UserID) String() string {
	return "@" + u.Localpart + ":" + string(u.Server)
}

// Compliant reports whether the localpart is within the range the spec calls
// compliant: non-empty and only U+0021–U+007E (appendices, Historical User
// IDs). Servers accept non-compliant user IDs inside events but SHOULD NOT
// forward them to clients outside the context of an event (e.g. device list
// updates), which is what this check is for.
func (u UserID) Compliant() bool {
	if u.Localpart == "" {
		return false
	}
	for i := 0; i < len(u.Localpart); i++ {
		if c := u.Localpart[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// ParseUserID parses a user ID leniently, as received from clients or over
// federation: "@" localpart ":" server_name, at most 255 bytes.
//
// Since spec v1.8 (appendices, Historical User IDs) servers MUST accept
// localparts of any non-surrogate Unicode code points except ":" and NUL,
// including control characters and the empty string; so this accepts more
// than printable ASCII. Use Compliant to detect such historical IDs and
// ValidateLocalpart for the strict grammar required of new users. The input
// must be valid UTF-8 (which excludes surrogates).
func ParseUserID(s string) (UserID, error) {
	if len(s) > MaxIDLength {
		return UserID{}, fmt.Errorf("%w: %w: %d bytes", ErrInvalidUserID, ErrTooLong, len(s))
	}
	if len(s) == 0 || s[0] != '@' {
		return UserID{}, fmt.Errorf("%w: %s does not start with '@'", ErrInvalidUserID, quote(s))
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return UserID{}, fmt.Errorf("%w: %s has no server name", ErrInvalidUserID, quote(s))
	}
	local := s[1:colon]
	if !validHistoricalLocalpart(local) {
		return UserID{}, fmt.Errorf("%w: %s has a localpart with NUL or invalid UTF-8", ErrInvalidUserID, quote(s))
	}
	server := s[colon+1:]
	if !ValidServerName(server) {
		return UserID{}, fmt.Errorf("%w: %s has an invalid server name", ErrInvalidUserID, quote(s))
	}
	return UserID{Localpart: local, Server: ServerName(server)}, nil
}

// UserServer returns the server name of a user ID, validating the whole ID as
// ParseUserID does. The auth rules ask for this on nearly every event, so it
// does not allocate on success.
func UserServer(userID string) (ServerName, error) {
	u, err := ParseUserID(userID)
	if err != nil {
		return "", err
	}
	return u.Server, nil
}

// ValidateLocalpart checks the strict localpart grammar required when this
// server creates a user (appendices, User Identifiers, since v1.8):
// non-empty, only a-z 0-9 . _ = - / +. Upper case is rejected: the spec wants
// new user IDs downcased so that @USER and @user cannot be different people
// (see NormalizeUsername). Errors wrap ErrInvalidLocalpart.
func ValidateLocalpart(localpart string) error {
	if localpart == "" {
		return fmt.Errorf("%w: empty", ErrInvalidLocalpart)
	}
	// "@" + localpart + ":" + at least one byte of server name.
	if len(localpart) > MaxIDLength-3 {
		return fmt.Errorf("%w: %w: %d bytes", ErrInvalidLocalpart, ErrTooLong, len(localpart))
	}
	for i := 0; i < len(localpart); i++ {
		if !strictLocalpartByte(localpart[i]) {
			return fmt.Errorf("%w: %s may only contain a-z, 0-9, '.', '_', '=', '-', '/' and '+'", ErrInvalidLocalpart, quote(localpart))
		}
	}
	return nil
}

// NewUserID builds a user ID for a user this server is creating: the
// localpart must pass ValidateLocalpart, the server name must be valid, and
// the whole ID must fit in 255 bytes. A too-long result wraps both
// ErrInvalidLocalpart and ErrTooLong, since the username is what the client
// can change; an invalid server name (a configuration bug) wraps
// ErrInvalidServerName.
func NewUserID(localpart string, server ServerName) (UserID, error) {
	if err := ValidateLocalpart(localpart); err != nil {
		return UserID{}, err
	}
	if !server.Valid() {
		return UserID{}, fmt.Errorf("%w: %s", ErrInvalidServerName, quote(string(server)))
	}
	if n := 1 + len(localpart) + 1 + len(server); n > MaxIDLength {
		return UserID{}, fmt.Errorf("%w: %w: user ID would be %d bytes", ErrInvalidLocalpart, ErrTooLong, n)
	}
	return UserID{Localpart: localpart, Server: server}, nil
}

// NormalizeUsername maps a username requested on /register onto a localpart:
// ASCII A–Z are downcased (the appendices' rationale asks homeservers to
// downcase usernames for new users, and /register lets the server "map the
// provided username onto a user_id in a logical manner"), then the result must
// pass ValidateLocalpart; anything else is rejected (M_INVALID_USERNAME)
// rather than escaped, so users get the name they asked for or an error.
func NormalizeUsername(username string) (string, error) {
	lower := username
	for i := 0; i < len(username); i++ {
		if c := username[i]; c >= 'A' && c <= 'Z' {
			b := []byte(username)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			lower = string(b)
			break
		}
	}
	if err := ValidateLocalpart(lower); err != nil {
		return "", err
	}
	return lower, nil
}

func strictLocalpartByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '=' || c == '-' || c == '/' || c == '+'
}

// validHistoricalLocalpart checks the lenient localpart shared by user IDs,
// room aliases and room/event ID opaque parts: valid UTF-8 (so no surrogates)
// and no NUL. ":" cannot occur because callers split at the first ":".
func validHistoricalLocalpart(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && strings.IndexByte(s[i:], 0) < 0
		}
	}
	return true
}
