// Package serveracl evaluates room server ACLs (the m.room.server_acl state
// event): which servers may take part in a room over federation
// (server-server-api "Server Access Control Lists (ACLs)"). An event's
// content is parsed and its globs compiled once by Parse; Allows then
// answers for one server name without allocating for the usual ASCII name.
//
// The package is pure: no clocks, no I/O, no globals.
package serveracl

import (
	"encoding/json"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxHostLen is the longest host a valid server name can have: the spec's
// server-name grammar allows a dns-name of 1*255 characters, and IP
// literals are shorter (appendices "Server Name").
const maxHostLen = 255

// ACL is a parsed m.room.server_acl content. The nil *ACL stands for "the
// room has no server ACL" and allows every server (rule 1).
type ACL struct {
	allowIPLiterals bool
	allow           []pattern
	deny            []pattern
}

// Parse reads the content of an m.room.server_acl event. It never fails:
// following the event schema, allow_ip_literals defaults to true when
// missing or not a boolean, and allow/deny default to empty lists (an
// empty allow list denies everyone, as the schema warns). Like Synapse,
// entries of allow/deny that are not strings are ignored, and so is a list
// that is not an array. Content that is not a JSON object is treated as
// {} (deny all): the room has an ACL, just not a usable one.
//
// The size of the content is bounded by the 64 KiB PDU limit, which bounds
// the number and total length of the patterns.
func Parse(content json.RawMessage) *ACL {
	var c struct {
		AllowIPLiterals json.RawMessage `json:"allow_ip_literals"`
		Allow           json.RawMessage `json:"allow"`
		Deny            json.RawMessage `json:"deny"`
	}
	acl := &ACL{allowIPLiterals: true}
	if json.Unmarshal(content, &c) != nil {
		return acl
	}
	b := true // json null decodes without error and leaves b alone
	if json.Unmarshal(c.AllowIPLiterals, &b) == nil && !b {
		acl.allowIPLiterals = false
	}
	acl.allow = compileList(c.Allow)
	acl.deny = compileList(c.Deny)
	return acl
}

// compileList compiles the string entries of a JSON array.
func compileList(raw json.RawMessage) []pattern {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]pattern, 0, len(items))
	for _, it := range items {
		var s string
		if json.Unmarshal(it, &s) != nil {
			continue
		}
		if p, ok := compile(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// Allows reports whether serverName may take part in the room, applying the
// m.room.server_acl rules in order (event schema, "applied in the
// following order"):
//
//  1. no ACL event: allow (the nil *ACL);
//  2. an IP literal when allow_ip_literals is false: deny;
//  3. a deny entry matches: deny;
//  4. an allow entry matches: allow;
//  5. otherwise deny.
//
// The port is not considered (schema: "evil.com", "evil.com:8448" and
// "evil.com:1234" all match rules for "evil.com"), and matching is
// case-insensitive. An IPv6 literal is matched in its bracketed form, as it
// appears in server names ("[::1]"). A name whose host is longer than a
// valid server name's can be (255 characters) is denied when there is an
// ACL: it cannot be a real server, and refusing it bounds matching time.
func (a *ACL) Allows(serverName string) bool {
	if a == nil {
		return true
	}
	host := stripPort(serverName)
	if len(host) == 0 || utf8.RuneCountInString(host) > maxHostLen {
		return false
	}
	if !a.allowIPLiterals && isIPLiteral(host) {
		return false
	}
	host = lower(host)
	for i := range a.deny {
		if a.deny[i].match(host) {
			return false
		}
	}
	for i := range a.allow {
		if a.allow[i].match(host) {
			return true
		}
	}
	return false
}

// stripPort removes a ":port" suffix from a server name (appendices
// "Server Name": server_name = hostname [ ":" port ], where an IPv6
// literal is bracketed). A name with several colons outside brackets is not
// a valid server name; it is kept whole, so that an unbracketed IPv6
// address is still recognised as an IP literal.
func stripPort(name string) string {
	if strings.HasPrefix(name, "[") {
		if end := strings.IndexByte(name, ']'); end >= 0 {
			return name[:end+1]
		}
		return name
	}
	if i := strings.IndexByte(name, ':'); i >= 0 && strings.IndexByte(name[i+1:], ':') < 0 {
		return name[:i]
	}
	return name
}

// isIPLiteral reports whether host is an IPv4 address or an IPv6 address
// (bracketed, or bare for an invalid name that strayed this far).
func isIPLiteral(host string) bool {
	// Most names have a letter beyond a-f; skip the parser (whose error
	// allocates) for them.
	for i := 0; i < len(host); i++ {
		switch c := host[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':', c == '[', c == ']', c == '%':
		default:
			return false
		}
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// lower lowercases s, without allocating when s is already lower-case
// ASCII (the usual server name).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}
