// Package ids implements the Matrix identifier grammar: server names, user
// IDs, room IDs, room aliases, event IDs and the opaque and namespaced
// identifier grammars (spec: appendices "Identifier Grammar" and "Opaque
// Identifiers"; room versions 1–12 for the room and event ID formats).
//
// The package is pure: no I/O, no globals beyond immutable error sentinels.
// Parsers accept untrusted input and never panic. Parsing is lenient where
// the spec obliges servers to accept historical identifiers over federation,
// and strict (ValidateLocalpart, NewUserID) where this server mints new ones.
package ids

import (
	"errors"
	"fmt"
)

// MaxIDLength is the limit, in bytes, on user IDs, room IDs, room aliases and
// event IDs including the sigil and domain (appendices, Identifier Grammar).
// Server names get the same limit here: dns-name is at most 255 characters.
const MaxIDLength = 255

// Sentinel errors. Every error returned by this package wraps at least one of
// them so the HTTP layer can pick an errcode with errors.Is:
//   - ErrInvalidLocalpart (maybe with ErrTooLong) from ValidateLocalpart,
//     NewUserID and NormalizeUsername → M_INVALID_USERNAME on /register;
//   - the other sentinels → M_INVALID_PARAM (or M_BAD_JSON in bodies).
var (
	ErrInvalidServerName = errors.New("invalid server name")
	ErrInvalidUserID     = errors.New("invalid user ID")
	ErrInvalidLocalpart  = errors.New("invalid localpart")
	ErrInvalidRoomAlias  = errors.New("invalid room alias")
	ErrTooLong           = errors.New("identifier too long")
)

// quote renders untrusted input for an error message, bounded so that a huge
// input cannot blow up logs or responses.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
