package ids

import (
	"strings"
	"testing"
)

// Appendices, Common Identifier Format: the four sigils.
func TestSigil(t *testing.T) {
	tests := []struct {
		in   string
		want byte
	}{
		{"@alice:example.org", '@'},
		{"!room:example.org", '!'},
		{"$event", '$'},
		{"#alias:example.org", '#'},
		{"@", '@'},
		{"alice", 0},
		{"+group:example.org", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := Sigil(tt.in); got != tt.want {
			t.Errorf("Sigil(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Appendices, Opaque Identifiers: 1–255 of [0-9A-Za-z-._~].
func TestValidOpaqueID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"letters and digits", "AbC123", true},
		{"all punctuation", "-._~", true},
		{"one character", "a", true},
		{"255 characters", strings.Repeat("x", 255), true},
		{"256 characters", strings.Repeat("x", 256), false},
		{"empty", "", false},
		{"slash", "a/b", false},
		{"plus", "a+b", false},
		{"colon", "a:b", false},
		{"space", "a b", false},
		{"percent", "a%20", false},
		{"unicode", "ü", false},
	}
	for _, tt := range tests {
		if got := ValidOpaqueID(tt.in); got != tt.ok {
			t.Errorf("%s: ValidOpaqueID(%q) = %v, want %v", tt.name, tt.in, got, tt.ok)
		}
	}
}

// Appendices, Common Namespaced Identifier Grammar: 1–255 characters,
// starting [a-z], then [a-z0-9-_.].
func TestValidNamespacedID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"spec reserved prefix", "m.login.password", true},
		{"reverse DNS", "com.example.identifier", true},
		{"digits hyphen underscore", "a0-_.", true},
		{"single letter", "a", true},
		{"255 characters", "a" + strings.Repeat("b", 254), true},
		{"256 characters", "a" + strings.Repeat("b", 255), false},
		{"empty", "", false},
		{"starts with digit", "0abc", false},
		{"starts with dot", ".abc", false},
		{"upper case", "com.Example", false},
		{"slash", "com/example", false},
		{"unicode", "cöm.example", false},
	}
	for _, tt := range tests {
		if got := ValidNamespacedID(tt.in); got != tt.ok {
			t.Errorf("%s: ValidNamespacedID(%q) = %v, want %v", tt.name, tt.in, got, tt.ok)
		}
	}
}
