// Package xmatrix implements the X-Matrix request authentication scheme of
// the server-server API ("Request Authentication"): the Authorization
// header's grammar, the JSON object a request signature covers, and signing
// and verifying it. It is pure: no I/O, clocks or key lookups. The HTTP
// middleware that fetches keys and rejects requests lives in fedauth.
package xmatrix

import (
	"errors"
	"fmt"
	"strings"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Scheme is the authorization scheme name. Schemes are case-insensitive
// (RFC 9110, section 11.1); it is always sent in this spelling.
const Scheme = "X-Matrix"

var (
	// ErrMalformed is wrapped when an Authorization header is not a
	// well-formed X-Matrix header with the required parameters.
	ErrMalformed = errors.New("xmatrix: malformed X-Matrix authorization")
	// ErrNotXMatrix is wrapped when the header uses another scheme.
	ErrNotXMatrix = errors.New("xmatrix: not an X-Matrix authorization")
	// ErrBadSignature is wrapped when a request signature does not verify.
	ErrBadSignature = errors.New("xmatrix: request signature does not verify")
)

// Authorization is a parsed X-Matrix Authorization header.
type Authorization struct {
	// Origin is the sending server's name.
	Origin string
	// Destination is the receiving server's name, or "" when the sender
	// omitted it (allowed for compatibility with servers older than v1.3).
	Destination string
	// KeyID names the origin's key that made Signature.
	KeyID signing.KeyID
	// Signature is the unpadded Base64 signature, as sent.
	Signature string
}

// maxHeaderLen bounds the header we are willing to parse. Real headers are
// ~200 bytes (two server names, a key ID and an 86-character signature).
const maxHeaderLen = 8 << 10

// ParseAuthorization parses one Authorization header value.
//
// The grammar is RFC 9110's credentials (section 11.4) as the spec
// summarises it: the scheme, one or more spaces, then comma-separated
// name=value parameters with optional spaces and tabs around the commas.
// Names are case-insensitive and may come in any order; values may be
// quoted strings (with backslash escapes, which are undone) or bare tokens.
// As the spec asks, bare values may contain colons; this parser goes
// further and accepts any visible character except '"', '\\' and ',' in a
// bare value, since Base64 signatures contain '/' and senders that skip the
// quotes exist. Unknown parameters are ignored; a repeated parameter is an
// error, because two readings of one header must never disagree.
//
// origin, key and sig are required (the spec's list calls the signature
// parameter "signature" while its example and every implementation send
// "sig"; both names are accepted, and an error results if they disagree).
// origin and destination must be valid server names and key a valid key ID.
func ParseAuthorization(header string) (*Authorization, error) {
	if len(header) > maxHeaderLen {
		return nil, fmt.Errorf("%w: header is %d bytes", ErrMalformed, len(header))
	}
	header = strings.TrimLeft(header, " \t")
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, Scheme) {
		return nil, fmt.Errorf("%w: scheme %q", ErrNotXMatrix, truncate(scheme))
	}
	params, err := parseParams(rest)
	if err != nil {
		return nil, err
	}
	a := &Authorization{
		Origin:      params["origin"],
		Destination: params["destination"],
		KeyID:       signing.KeyID(params["key"]),
		Signature:   params["sig"],
	}
	if s, ok := params["signature"]; ok {
		if a.Signature != "" && a.Signature != s {
			return nil, fmt.Errorf("%w: sig and signature parameters differ", ErrMalformed)
		}
		a.Signature = s
	}
	switch {
	case a.Origin == "":
		return nil, fmt.Errorf("%w: missing origin", ErrMalformed)
	case a.KeyID == "":
		return nil, fmt.Errorf("%w: missing key", ErrMalformed)
	case a.Signature == "":
		return nil, fmt.Errorf("%w: missing sig", ErrMalformed)
	}
	if !ids.ValidServerName(a.Origin) {
		return nil, fmt.Errorf("%w: origin %q is not a server name", ErrMalformed, truncate(a.Origin))
	}
	if _, hasDest := params["destination"]; hasDest && !ids.ValidServerName(a.Destination) {
		return nil, fmt.Errorf("%w: destination %q is not a server name", ErrMalformed, truncate(a.Destination))
	}
	if _, _, err := signing.ParseKeyID(string(a.KeyID)); err != nil {
		return nil, fmt.Errorf("%w: key: %v", ErrMalformed, err)
	}
	return a, nil
}

// parseParams reads the auth-param list after the scheme. Keys are
// lower-cased.
func parseParams(s string) (map[string]string, error) {
	params := map[string]string{}
	i := 0
	skipOWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		// Empty list elements (",,") are tolerated, as RFC 9110 5.6.1
		// asks of recipients.
		for skipOWS(); i < len(s) && s[i] == ','; skipOWS() {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTchar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("%w: expected a parameter name at byte %d", ErrMalformed, start)
		}
		name := strings.ToLower(s[start:i])
		skipOWS()
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: parameter %q has no value", ErrMalformed, truncate(name))
		}
		i++
		skipOWS()
		var value string
		if i < len(s) && s[i] == '"' {
			v, n, err := readQuoted(s[i:])
			if err != nil {
				return nil, err
			}
			value, i = v, i+n
		} else {
			start := i
			for i < len(s) && isBareValueChar(s[i]) {
				i++
			}
			value = s[start:i]
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q given twice", ErrMalformed, truncate(name))
		}
		params[name] = value
		skipOWS()
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("%w: unexpected %q after parameter %q", ErrMalformed, s[i], truncate(name))
		}
	}
	return params, nil
}

// readQuoted reads a quoted-string at the start of s and returns its
// unescaped content and the number of bytes consumed.
func readQuoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 == len(s) {
				return "", 0, fmt.Errorf("%w: unterminated escape in quoted value", ErrMalformed)
			}
			i++
			b.WriteByte(s[i])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", 0, fmt.Errorf("%w: control character in quoted value", ErrMalformed)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quoted value", ErrMalformed)
}

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isBareValueChar is the tolerant set for unquoted values (see
// ParseAuthorization).
func isBareValueChar(c byte) bool {
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ','
}

// String formats a as an Authorization header value the way the spec asks
// senders to: one space after the scheme, lower-case names, every value
// quoted, no whitespace around the commas. destination is always sent when
// set (the spec says senders MUST send it).
func (a Authorization) String() string {
	var b strings.Builder
	b.WriteString(Scheme)
	b.WriteString(" origin=")
	writeQuoted(&b, a.Origin)
	if a.Destination != "" {
		b.WriteString(",destination=")
		writeQuoted(&b, a.Destination)
	}
	b.WriteString(",key=")
	writeQuoted(&b, string(a.KeyID))
	b.WriteString(",sig=")
	writeQuoted(&b, a.Signature)
	return b.String()
}

// writeQuoted quotes v, escaping '"' and '\\'. Valid server names, key IDs
// and Base64 never contain either, so in practice no backslash is sent, as
// the spec recommends.
func writeQuoted(b *strings.Builder, v string) {
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
