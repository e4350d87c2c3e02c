// Package synctoken reads and writes the tokens of /sync and pagination.
//
// Everything a client syncs is a stream with its own positions. A token
// carries one position per stream:
//
//	s1204            the room event stream alone (every token before
//	                 streams were added, and every pagination token)
//	s1204_r17_t3     the room event stream, then "_<key><position>" per
//	                 other stream, keys being lowercase ASCII letters
//
// The room event stream comes first and is the only part pagination
// (/messages, /context, /members?at=) reads, so a /sync next_batch or
// prev_batch can be handed to /messages as the spec allows. Its position
// may be negative in pagination tokens (history backfilled from other
// servers sits below position 0). Other streams' positions are never
// negative. Parts with keys this server does not know are ignored, so a
// token from a newer or older release keeps working; a stream missing from
// a token reads as position 0: "the client has nothing of this stream".
//
// Tokens are opaque to clients (client-server-api "Syncing"); the only
// promise is that a token this server issued keeps working, across
// restarts too.
package synctoken

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// MaxLen bounds a token's length; a token longer than any this server
// issues is refused before it is parsed.
const MaxLen = 256

// maxParts bounds the streams a token may name.
const maxParts = 16

// ErrInvalid is returned for anything that is not a well-formed token.
var ErrInvalid = errors.New("invalid token")

// Token is a position in each stream.
type Token struct {
	// Room is the position in the room event stream, shared by room
	// events and account data.
	Room int64
	// Streams holds the other streams' positions by key; nil when the
	// token names none.
	Streams map[string]int64
}

// Pos returns the token's position in the stream key (0 when absent).
func (t Token) Pos(key string) int64 { return t.Streams[key] }

// With returns a copy of t with key set to pos.
func (t Token) With(key string, pos int64) Token {
	m := make(map[string]int64, len(t.Streams)+1)
	for k, v := range t.Streams {
		m[k] = v
	}
	m[key] = pos
	t.Streams = m
	return t
}

// String formats t; streams appear in key order, so equal tokens format
// equally.
func (t Token) String() string {
	var b strings.Builder
	b.WriteByte('s')
	b.WriteString(strconv.FormatInt(t.Room, 10))
	keys := make([]string, 0, len(t.Streams))
	for k := range t.Streams {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte('_')
		b.WriteString(k)
		b.WriteString(strconv.FormatInt(t.Streams[k], 10))
	}
	return b.String()
}

// Parse reads a token. minRoom is the lowest room position accepted: 0 for
// /sync, a large negative bound for pagination.
func Parse(s string, minRoom int64) (Token, error) {
	if len(s) < 2 || len(s) > MaxLen || s[0] != 's' {
		return Token{}, ErrInvalid
	}
	parts := strings.Split(s[1:], "_")
	if len(parts) > maxParts+1 {
		return Token{}, ErrInvalid
	}
	room, err := parseInt(parts[0], true)
	if err != nil || room < minRoom {
		return Token{}, ErrInvalid
	}
	t := Token{Room: room}
	for _, p := range parts[1:] {
		i := 0
		for i < len(p) && p[i] >= 'a' && p[i] <= 'z' {
			i++
		}
		if i == 0 {
			return Token{}, ErrInvalid
		}
		pos, err := parseInt(p[i:], false)
		if err != nil {
			return Token{}, ErrInvalid
		}
		key := p[:i]
		if t.Streams == nil {
			t.Streams = map[string]int64{}
		}
		if _, dup := t.Streams[key]; dup {
			return Token{}, ErrInvalid
		}
		t.Streams[key] = pos
	}
	return t, nil
}

// parseInt reads a decimal integer written the way String writes one: no
// sign unless negative (and only where allowed), no leading zeros, no
// spaces.
func parseInt(s string, allowNeg bool) (int64, error) {
	digits := s
	if allowNeg && strings.HasPrefix(s, "-") {
		digits = s[1:]
	}
	if digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, ErrInvalid
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, ErrInvalid
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
