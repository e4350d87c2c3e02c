package syncapi

import "testing"

// client-server-api "Filtering": "A '*' can be used as a wildcard to
// match any sequence of characters."
func TestGlobMatch_WildcardMatchesAnySequence(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "m.room.messages", false},
		{"*", "", true},
		{"*", "anything", true},
		{"m.*", "m.room.name", true},
		{"m.*", "org.example", false},
		{"*.name", "m.room.name", true},
		{"m.*.name", "m.room.name", true},
		{"m.*.name", "m.name", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix may not overlap
		{"**", "x", true},
	} {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func BenchmarkAllows_WildcardTypes(b *testing.B) {
	types := make([]string, MaxFilterListLen)
	for i := range types {
		types[i] = "x*y*z"
	}
	f := EventFilter{Types: &types}
	for b.Loop() {
		f.Allows("m.room.message", "@alice:example.org")
	}
}
