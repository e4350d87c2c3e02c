package ids

import (
	"fmt"
	"net/netip"
	"strings"
)

// ServerName is a homeserver's name: a hostname (DNS name, IPv4 literal or
// bracketed IPv6 literal) with an optional ":port" (appendices, Server Name).
// Server names compare case-sensitively, exactly as strings.
type ServerName string

// Valid reports whether s is a valid server name.
func (s ServerName) Valid() bool { return ValidServerName(string(s)) }

// Split is ParseServerName(string(s)).
func (s ServerName) Split() (host string, port int, err error) {
	return ParseServerName(string(s))
}

// ValidServerName reports whether s is a valid server name.
func ValidServerName(s string) bool {
	_, _, err := ParseServerName(s)
	return err == nil
}

// ParseServerName splits a server name into its host and port.
//
// The host is returned without the square brackets of an IPv6 literal
// ("[::1]:8448" gives "::1", 8448), which is the form net.JoinHostPort and
// netip.ParseAddr expect: dial net.JoinHostPort(host, strconv.Itoa(port)).
// For the HTTP Host header use the server name itself, which keeps the
// brackets. port is 0 when the server name has no explicit port.
//
// Beyond the spec's ABNF this follows its prose: IPv4 octets must be 0–255,
// IPv6 literals must be valid RFC 3513 addresses (no zone), and DNS names must
// be dot-separated non-empty labels, so "example.org." (trailing dot) and
// "a..b" are rejected. The ABNF only bounds which names may be valid ("all
// valid server names are included by the following grammar"); rejecting a
// trailing dot also stops "example.org." aliasing "example.org". Label
// length (63) and hyphen placement are not checked: the spec does not ask.
func ParseServerName(s string) (host string, port int, err error) {
	if len(s) == 0 {
		return "", 0, fmt.Errorf("%w: empty", ErrInvalidServerName)
	}
	if len(s) > MaxIDLength {
		return "", 0, fmt.Errorf("%w: %w: %d bytes", ErrInvalidServerName, ErrTooLong, len(s))
	}
	var rest string
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%w: unterminated IPv6 literal in %s", ErrInvalidServerName, quote(s))
		}
		host, rest = s[1:end], s[end+1:]
		if !validIPv6Literal(host) {
			return "", 0, fmt.Errorf("%w: bad IPv6 literal in %s", ErrInvalidServerName, quote(s))
		}
	} else {
		host, rest = s, ""
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, rest = s[:i], s[i:]
		}
		if ip4, ok := looksIPv4(host); ok {
			if !ip4 {
				return "", 0, fmt.Errorf("%w: bad IPv4 literal in %s", ErrInvalidServerName, quote(s))
			}
		} else if !validDNSName(host) {
			return "", 0, fmt.Errorf("%w: bad hostname in %s", ErrInvalidServerName, quote(s))
		}
	}
	if rest == "" {
		return host, 0, nil
	}
	port, ok := parsePort(rest)
	if !ok {
		return "", 0, fmt.Errorf("%w: bad port in %s", ErrInvalidServerName, quote(s))
	}
	return host, port, nil
}

// IsIPLiteral reports whether host, as returned by ParseServerName (brackets
// optional for IPv6), is an IP address literal rather than a DNS name. The
// server discovery algorithm skips .well-known and SRV lookups for literals
// (server-server API, Resolving server names).
func IsIPLiteral(host string) bool {
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return validIPv6Literal(host[1 : len(host)-1])
	}
	if ip4, ok := looksIPv4(host); ok {
		return ip4
	}
	return validIPv6Literal(host)
}

// parsePort parses ":" 1*5DIGIT with a value of 1–65535. Leading zeros are
// allowed, as the ABNF allows them.
func parsePort(rest string) (int, bool) {
	if len(rest) < 2 || len(rest) > 6 || rest[0] != ':' {
		return 0, false
	}
	n := 0
	for i := 1; i < len(rest); i++ {
		c := rest[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// looksIPv4 reports whether host has the shape of a dotted quad (four
// dot-separated all-digit groups); if so, valid says whether it is a legal
// IPv4address: 1–3 digits per group, each 0–255. A dotted quad of digits is
// treated as an intended IPv4 literal, so "256.1.1.1" is an error rather than
// a DNS name. Leading zeros ("01.2.3.4") are allowed, as the ABNF allows them.
func looksIPv4(host string) (valid, looks bool) {
	groups, digits, val := 0, 0, 0
	valid = true
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			val = val*10 + int(c-'0')
			if digits > 3 || val > 255 {
				valid = false
				val = 0 // avoid overflow on long digit runs; already invalid
			}
		case c == '.':
			if digits == 0 {
				return false, false
			}
			groups++
			digits, val = 0, 0
		default:
			return false, false
		}
	}
	if digits == 0 || groups != 3 {
		return false, false
	}
	return valid, true
}

// validDNSName checks dns-name = 1*255 (DIGIT / ALPHA / "-" / ".") with the
// prose's conventional restriction to non-empty dot-separated labels.
func validDNSName(host string) bool {
	if len(host) == 0 || len(host) > 255 {
		return false
	}
	label := 0
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			label++
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		default:
			return false
		}
	}
	return label > 0
}

// validIPv6Literal checks IPv6address = 2*45IPv6char, and that it is a real
// RFC 3513 address (netip also accepts zones and IPv4, which the character
// set and the Is6 check exclude).
func validIPv6Literal(h string) bool {
	if len(h) < 2 || len(h) > 45 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6()
}
