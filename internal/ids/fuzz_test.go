package ids

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// Seeds live in testdata/fuzz/FuzzXxx/ so that plain `go test` runs them.
// Invariants: no panic; the error and bool forms agree; valid results
// round-trip through String(); every error wraps a sentinel.

func FuzzParseUserID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUserID(s)
		server, serr := UserServer(s)
		if (err == nil) != (serr == nil) {
			t.Fatalf("ParseUserID and UserServer disagree on %q: %v vs %v", s, err, serr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidUserID) {
				t.Fatalf("error %v does not wrap ErrInvalidUserID", err)
			}
			return
		}
		if u.String() != s {
			t.Fatalf("String() = %q, want %q", u.String(), s)
		}
		if server != u.Server || !u.Server.Valid() || len(s) > MaxIDLength {
			t.Fatalf("inconsistent parse of %q: %+v, %q", s, u, server)
		}
		// Strict creation accepts a subset of what parsing accepts.
		if nu, err := NewUserID(u.Localpart, u.Server); err == nil && nu != u {
			t.Fatalf("NewUserID(%q, %q) = %+v", u.Localpart, u.Server, nu)
		}
		if ValidateLocalpart(u.Localpart) == nil && !u.Compliant() {
			t.Fatalf("strict localpart %q is not compliant", u.Localpart)
		}
	})
}

func FuzzParseServerName(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := ParseServerName(s)
		if ValidServerName(s) != (err == nil) {
			t.Fatalf("ValidServerName(%q) disagrees with ParseServerName err %v", s, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidServerName) {
				t.Fatalf("error %v does not wrap ErrInvalidServerName", err)
			}
			return
		}
		if port < 0 || port > 65535 || len(s) > MaxIDLength {
			t.Fatalf("ParseServerName(%q) port %d", s, port)
		}
		// Rebuild the name from its parts: it must parse to the same parts,
		// and equal the input unless the port had leading zeros.
		rebuilt := host
		if IsIPLiteral(host) && !isDottedQuad(host) {
			rebuilt = "[" + host + "]"
		}
		if port != 0 {
			rebuilt += ":" + strconv.Itoa(port)
		}
		h2, p2, err := ParseServerName(rebuilt)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("rebuilt %q from %q parses to %q, %d, %v", rebuilt, s, h2, p2, err)
		}
		if rebuilt != s && !(port != 0 && len(s) > len(rebuilt)) {
			t.Fatalf("rebuilt %q differs from %q", rebuilt, s)
		}
		// The documented dialing form must split back into the same host.
		if h, _, err := net.SplitHostPort(net.JoinHostPort(host, "1")); err != nil || h != host {
			t.Fatalf("JoinHostPort/SplitHostPort(%q) = %q, %v", host, h, err)
		}
	})
}

func FuzzParseRoomAlias(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseRoomAlias(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRoomAlias) {
				t.Fatalf("error %v does not wrap ErrInvalidRoomAlias", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("String() = %q, want %q", a.String(), s)
		}
		if a.Localpart == "" || !a.Server.Valid() || len(s) > MaxIDLength {
			t.Fatalf("inconsistent parse of %q: %+v", s, a)
		}
		// The same shape with other sigils: a user ID accepts it; a room or
		// event ID accepts it too, since all share the opaque-part grammar.
		if _, err := ParseUserID("@" + s[1:]); err != nil {
			t.Fatalf("alias %q valid but user ID form rejected: %v", s, err)
		}
		if !ValidRoomID("!"+s[1:]) || !ValidEventID("$"+s[1:]) {
			t.Fatalf("alias %q valid but room/event ID form rejected", s)
		}
	})
}

func isDottedQuad(h string) bool {
	valid, looks := looksIPv4(h)
	return valid && looks
}
