package ids

import (
	"errors"
	"strings"
	"testing"
)

// Appendices, User Identifiers and Historical User IDs: reading user IDs is
// lenient (any non-surrogate Unicode except ":" and NUL, even empty).
func TestParseUserID_Lenient(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		local  string
		server ServerName
		ok     bool
	}{
		{"plain", "@alice:example.org", "alice", "example.org", true},
		{"spec example", "@user:matrix.org", "user", "matrix.org", true},
		{"all strict punctuation", "@a.b_c=d-e/f+g:example.org", "a.b_c=d-e/f+g", "example.org", true},
		{"server with port", "@alice:example.org:8448", "alice", "example.org:8448", true},
		{"server IPv4", "@alice:1.2.3.4", "alice", "1.2.3.4", true},
		{"server IPv6", "@alice:[::1]", "alice", "[::1]", true},
		{"server IPv6 with port", "@alice:[1234:5678::abcd]:5678", "alice", "[1234:5678::abcd]:5678", true},
		{"upper case is read", "@Alice:example.org", "Alice", "example.org", true},
		{"server case is kept", "@user:MATRIX.ORG", "user", "MATRIX.ORG", true},
		{"historical printable ASCII", "@!\"#$%&'()*;<>?[]^`{|}~:example.org", "!\"#$%&'()*;<>?[]^`{|}~", "example.org", true},
		{"historical space", "@a b:example.org", "a b", "example.org", true},
		{"historical control character", "@a\x01b:example.org", "a\x01b", "example.org", true},
		{"historical unicode", "@ünïcødé:example.org", "ünïcødé", "example.org", true},
		{"historical emoji", "@😀:example.org", "😀", "example.org", true},
		{"historical empty localpart", "@:example.org", "", "example.org", true},

		{"NUL in localpart", "@a\x00b:example.org", "", "", false},
		{"NUL after unicode", "@ü\x00:example.org", "", "", false},
		{"invalid UTF-8", "@a\xffb:example.org", "", "", false},
		{"encoded surrogate", "@\xed\xa0\x80:example.org", "", "", false},
		{"no sigil", "alice:example.org", "", "", false},
		{"wrong sigil", "#alice:example.org", "", "", false},
		{"no server", "@alice", "", "", false},
		{"empty server", "@alice:", "", "", false},
		{"bad server", "@alice:exa_mple.org", "", "", false},
		{"server trailing dot", "@alice:example.org.", "", "", false},
		{"server port 0", "@alice:example.org:0", "", "", false},
		{"server port 65536", "@alice:example.org:65536", "", "", false},
		{"just the sigil", "@", "", "", false},
		{"empty", "", "", "", false},
		{"255 bytes", "@" + strings.Repeat("a", 253-len("example.org")) + ":example.org", strings.Repeat("a", 253-len("example.org")), "example.org", true},
		{"256 bytes", "@" + strings.Repeat("a", 254-len("example.org")) + ":example.org", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUserID(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseUserID(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			server, serr := UserServer(tt.in)
			if (serr == nil) != tt.ok {
				t.Errorf("UserServer(%q) err = %v, want ok=%v", tt.in, serr, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidUserID) {
					t.Errorf("error %v does not wrap ErrInvalidUserID", err)
				}
				return
			}
			if u.Localpart != tt.local || u.Server != tt.server || server != tt.server {
				t.Errorf("ParseUserID(%q) = %+v, UserServer = %q; want %q, %q", tt.in, u, server, tt.local, tt.server)
			}
			if u.String() != tt.in {
				t.Errorf("String() = %q, want %q", u.String(), tt.in)
			}
		})
	}
}

func TestParseUserID_TooLongWrapsErrTooLong(t *testing.T) {
	_, err := ParseUserID("@" + strings.Repeat("a", 300) + ":example.org")
	if !errors.Is(err, ErrTooLong) || !errors.Is(err, ErrInvalidUserID) {
		t.Fatalf("err = %v, want ErrInvalidUserID and ErrTooLong", err)
	}
}

// Appendices, Historical User IDs: localparts outside U+0021–U+007E, or
// empty, are non-compliant.
func TestUserID_Compliant(t *testing.T) {
	tests := []struct {
		local string
		want  bool
	}{
		{"alice", true},
		{"Alice", true},
		{"!\"#$%&'()*;<>?[]^`{|}~", true},
		{"", false},
		{"a b", false},
		{"a\x7f", false},
		{"a\x01", false},
		{"ü", false},
	}
	for _, tt := range tests {
		u := UserID{Localpart: tt.local, Server: "example.org"}
		if got := u.Compliant(); got != tt.want {
			t.Errorf("UserID{%q}.Compliant() = %v, want %v", tt.local, got, tt.want)
		}
	}
}

// Appendices, User Identifiers (since v1.8): new localparts are non-empty
// and use only a-z 0-9 . _ = - / +.
func TestValidateLocalpart_Strict(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"lower case", "alice", true},
		{"digits", "12345", true},
		{"every allowed punctuation", "a.b_c=d-e/f+g", true},
		{"only punctuation", "._=-/+", true},
		{"253 bytes", strings.Repeat("a", 253), false},
		{"252 bytes", strings.Repeat("a", 252), true},
		{"empty", "", false},
		{"upper case rejected on create", "Alice", false},
		{"colon", "a:b", false},
		{"at sign", "a@b", false},
		{"space", "a b", false},
		{"asterisk (filter wildcard)", "a*", false},
		{"hash", "a#b", false},
		{"tilde", "a~b", false},
		{"unicode", "ünïcødé", false},
		{"NUL", "a\x00", false},
		{"invalid UTF-8", "a\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLocalpart(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateLocalpart(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidLocalpart) {
				t.Errorf("error %v does not wrap ErrInvalidLocalpart", err)
			}
		})
	}
}

// Appendices, User Identifiers: the whole user ID MUST NOT exceed 255 bytes.
func TestNewUserID(t *testing.T) {
	fits := strings.Repeat("a", 253-len("example.org")) // "@" + fits + ":example.org" is 255 bytes
	tests := []struct {
		name    string
		local   string
		server  ServerName
		wantErr []error
	}{
		{"valid", "alice", "example.org", nil},
		{"valid with port", "alice", "example.org:8448", nil},
		{"exactly 255 bytes", fits, "example.org", nil},
		{"256 bytes", fits + "a", "example.org", []error{ErrInvalidLocalpart, ErrTooLong}},
		{"upper case", "Alice", "example.org", []error{ErrInvalidLocalpart}},
		{"empty localpart", "", "example.org", []error{ErrInvalidLocalpart}},
		{"historical character", "a!b", "example.org", []error{ErrInvalidLocalpart}},
		{"invalid server", "alice", "example.org.", []error{ErrInvalidServerName}},
		{"empty server", "alice", "", []error{ErrInvalidServerName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := NewUserID(tt.local, tt.server)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewUserID(%q, %q) = %v", tt.local, tt.server, err)
				}
				back, err := ParseUserID(u.String())
				if err != nil || back != u {
					t.Errorf("ParseUserID(%q) = %+v, %v; want %+v", u.String(), back, err, u)
				}
				return
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("NewUserID(%q, %q) err = %v, want it to wrap %v", tt.local, tt.server, err, want)
				}
			}
		})
	}
}

// /register: the server MUST map the username onto a valid localpart or
// reject it with M_INVALID_USERNAME; the appendices ask for downcasing.
func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{"Alice", "alice", true},
		{"ALICE.Smith_1", "alice.smith_1", true},
		{"", "", false},
		{"al ice", "", false},
		{"älice", "", false},
		{"ÄLICE", "", false},
		{"a:b", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeUsername(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidLocalpart) {
			t.Errorf("NormalizeUsername(%q) error %v does not wrap ErrInvalidLocalpart", tt.in, err)
		}
	}
}

func TestUserServer_DoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := UserServer("@alice:example.org:8448"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("UserServer allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkParseUserID(b *testing.B) {
	for _, bm := range []struct{ name, id string }{
		{"dns", "@alice:matrix.example.org"},
		{"ipv6_port", "@alice:[2001:db8::1]:8448"},
		{"unicode", "@ünïcødé-user:example.org"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseUserID(bm.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
