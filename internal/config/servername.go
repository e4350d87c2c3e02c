package config

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// validServerName checks the server name grammar of the spec (appendices,
// "Server Name"): hostname [":" port], where hostname is an IPv4 literal, a
// bracketed IPv6 literal or a DNS name of letters, digits, "-" and ".". The
// ids package has the shared validator; this private copy keeps config
// free of that dependency. It is slightly stricter than the grammar: IPv4
// parts must be at most 255 and ports 1-65535, since anything else cannot
// be reached.
func validServerName(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return errors.New("has an unclosed [ in its IPv6 literal")
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return errors.New("has text after the IPv6 literal that is not a :port")
		}
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return errors.New("has an invalid IPv6 literal")
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		if host == "" || len(host) > 255 {
			return errors.New("needs a host name of 1 to 255 characters")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return errors.New("may only contain letters, digits, '-' and '.' before the port")
			}
		}
		if looksLikeIPv4(host) {
			if a, err := netip.ParseAddr(host); err != nil || !a.Is4() {
				return errors.New("has an invalid IPv4 address")
			}
		}
	}
	if port != "" {
		p := port[1:]
		n, err := strconv.Atoi(p)
		if err != nil || len(p) > 5 || strings.ContainsAny(p, "+-") || n < 1 || n > 65535 {
			return errors.New("has an invalid port; use a number from 1 to 65535")
		}
	}
	return nil
}

// looksLikeIPv4 matches the grammar's IPv4address shape: four groups of
// 1-3 digits.
func looksLikeIPv4(h string) bool {
	parts := strings.Split(h, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
