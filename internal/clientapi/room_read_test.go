package clientapi

import "testing"

// Pagination tokens name positions between events; backfilled history has
// negative positions, so /messages tokens may be negative where /sync's
// may not.
func TestParsePageToken(t *testing.T) {
	for _, c := range []struct {
		tok  string
		want int64
		ok   bool
	}{
		{"s0", 0, true},
		{"s42", 42, true},
		{"s-17", -17, true},
		{"s-4611686018427387904", beforeAll, true},
		{"s-4611686018427387905", 0, false}, // below every position
		{"s", 0, false},
		{"", 0, false},
		{"t5", 0, false},
		{"s5x", 0, false},
		{"s99999999999999999999", 0, false},
	} {
		got, err := parsePageToken(c.tok)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parsePageToken(%q) = %d, %v; want %d, ok=%v", c.tok, got, err, c.want, c.ok)
		}
	}
}
