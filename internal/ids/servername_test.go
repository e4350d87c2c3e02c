package ids

import (
	"errors"
	"strings"
	"testing"
)

// Appendices, Server Name: grammar, prose and examples.
func TestServerName_Grammar(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) // 255 bytes
	tests := []struct {
		name string
		in   string
		host string
		port int
		ok   bool
	}{
		// The spec's examples.
		{"example dns", "matrix.org", "matrix.org", 0, true},
		{"example dns with port", "matrix.org:8888", "matrix.org", 8888, true},
		{"example IPv4", "1.2.3.4", "1.2.3.4", 0, true},
		{"example IPv4 with port", "1.2.3.4:1234", "1.2.3.4", 1234, true},
		{"example IPv6", "[1234:5678::abcd]", "1234:5678::abcd", 0, true},
		{"example IPv6 with port", "[1234:5678::abcd]:5678", "1234:5678::abcd", 5678, true},

		// DNS names.
		{"single label", "localhost", "localhost", 0, true},
		{"upper case is allowed and kept", "MATRIX.ORG", "MATRIX.ORG", 0, true},
		{"hyphen and digits", "my-server1.example.com", "my-server1.example.com", 0, true},
		{"all-digit label", "123", "123", 0, true},
		{"three numeric groups is a DNS name", "1.2.3", "1.2.3", 0, true},
		{"five numeric groups is a DNS name", "1.2.3.4.5", "1.2.3.4.5", 0, true},
		{"trailing dot", "matrix.org.", "", 0, false},
		{"leading dot", ".matrix.org", "", 0, false},
		{"empty label", "matrix..org", "", 0, false},
		{"just a dot", ".", "", 0, false},
		{"underscore", "my_server.org", "", 0, false},
		{"space", "matrix .org", "", 0, false},
		{"unicode", "mätrix.org", "", 0, false},
		{"punycode is plain ASCII", "xn--mtrix-gra.org", "xn--mtrix-gra.org", 0, true},
		{"255 bytes", long, long, 0, true},
		{"256 bytes", long + "e", "", 0, false},
		{"255 bytes with port", long[:250] + ":8448", long[:250], 8448, true},
		{"256 bytes with port", long[:251] + ":8448", "", 0, false},

		// IPv4.
		{"IPv4 zeros", "0.0.0.0", "0.0.0.0", 0, true},
		{"IPv4 max", "255.255.255.255", "255.255.255.255", 0, true},
		{"IPv4 octet 256", "256.1.1.1", "", 0, false},
		{"IPv4 octet 999", "1.2.3.999", "", 0, false},
		{"IPv4 four digits", "1.2.3.0004", "", 0, false},
		{"IPv4 leading zero allowed by 1*3DIGIT", "01.2.3.4", "01.2.3.4", 0, true},
		{"IPv4 trailing dot", "1.2.3.4.", "", 0, false},

		// IPv6.
		{"IPv6 loopback", "[::1]", "::1", 0, true},
		{"IPv6 loopback with port", "[::1]:8448", "::1", 8448, true},
		{"IPv6 unspecified", "[::]", "::", 0, true},
		{"IPv6 full", "[2001:0db8:0000:0000:0000:0000:0000:0001]", "2001:0db8:0000:0000:0000:0000:0000:0001", 0, true},
		{"IPv6 upper case hex", "[2001:DB8::1]", "2001:DB8::1", 0, true},
		{"IPv6 with embedded IPv4", "[::ffff:1.2.3.4]", "::ffff:1.2.3.4", 0, true},
		{"IPv6 without brackets", "::1", "", 0, false},
		{"IPv6 without brackets with port", "1234:5678::abcd:8448", "", 0, false},
		{"IPv6 unterminated", "[::1", "", 0, false},
		{"IPv6 empty", "[]", "", 0, false},
		{"IPv6 one char", "[1]", "", 0, false},
		{"IPv6 not an address", "[1:2]", "", 0, false},
		{"IPv6 two double colons", "[1::2::3]", "", 0, false},
		{"IPv6 with zone", "[fe80::1%eth0]", "", 0, false},
		{"IPv4 in brackets", "[1.2.3.4]", "", 0, false},
		{"IPv6 junk after bracket", "[::1]x", "", 0, false},
		{"IPv6 bad hex", "[::g]", "", 0, false},

		// Ports: 1*5DIGIT, 1–65535.
		{"port 1", "a.b:1", "a.b", 1, true},
		{"port 65535", "a.b:65535", "a.b", 65535, true},
		{"port 0", "a.b:0", "", 0, false},
		{"port 65536", "a.b:65536", "", 0, false},
		{"port 99999", "a.b:99999", "", 0, false},
		{"port six digits", "a.b:008448", "", 0, false},
		{"port leading zero allowed by 1*5DIGIT", "a.b:08448", "a.b", 8448, true},
		{"empty port", "a.b:", "", 0, false},
		{"signed port", "a.b:+80", "", 0, false},
		{"two ports", "a.b:80:80", "", 0, false},
		{"port without host", ":8448", "", 0, false},
		{"IPv6 port 0", "[::1]:0", "", 0, false},
		{"IPv6 port 65536", "[::1]:65536", "", 0, false},
		{"IPv6 empty port", "[::1]:", "", 0, false},

		{"empty", "", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := ParseServerName(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseServerName(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if ValidServerName(tt.in) != tt.ok || ServerName(tt.in).Valid() != tt.ok {
				t.Errorf("ValidServerName(%q) disagrees with ParseServerName", tt.in)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidServerName) {
					t.Errorf("error %v does not wrap ErrInvalidServerName", err)
				}
				return
			}
			if host != tt.host || port != tt.port {
				t.Errorf("ParseServerName(%q) = %q, %d; want %q, %d", tt.in, host, port, tt.host, tt.port)
			}
		})
	}
}

func TestServerName_TooLongWrapsErrTooLong(t *testing.T) {
	_, _, err := ParseServerName(strings.Repeat("a", 256))
	if !errors.Is(err, ErrTooLong) || !errors.Is(err, ErrInvalidServerName) {
		t.Fatalf("err = %v, want ErrInvalidServerName and ErrTooLong", err)
	}
}

// The server discovery algorithm (server-server API, Resolving server names)
// treats IP literals differently from DNS names.
func TestIsIPLiteral(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"1.2.3.4", true},
		{"::1", true},
		{"[::1]", true},
		{"1234:5678::abcd", true},
		{"matrix.org", false},
		{"localhost", false},
		{"1.2.3", false},
		{"256.1.1.1", false},
		{"[1.2.3.4]", false},
		{"[::1", false},
		{"", false},
		{"fe80::1%eth0", false},
	}
	for _, tt := range tests {
		if got := IsIPLiteral(tt.host); got != tt.want {
			t.Errorf("IsIPLiteral(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	// Every host ParseServerName returns for a literal is recognised.
	for _, sn := range []string{"1.2.3.4:80", "[::1]:80", "[1234:5678::abcd]"} {
		host, _, err := ParseServerName(sn)
		if err != nil || !IsIPLiteral(host) {
			t.Errorf("IsIPLiteral(host of %q = %q) = false, err %v", sn, host, err)
		}
	}
}
