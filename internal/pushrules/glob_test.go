package pushrules

import (
	"regexp"
	"strings"
	"testing"
)

// refRegexp is the glob definition written as plainly as possible, for
// checking the compiled matcher: "*" is ".*", "?" is ".", the rest is
// literal; words=true wraps it in the word-boundary rule of content.body.
func refRegexp(pattern string, words bool) *regexp.Regexp {
	var b strings.Builder
	for _, r := range strings.ToLower(pattern) {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if words {
		return regexp.MustCompile(`(?s)(?:^|[^A-Za-z0-9_])(?:` + b.String() + `)(?:[^A-Za-z0-9_]|$)`)
	}
	return regexp.MustCompile(`(?s)^(?:` + b.String() + `)$`)
}

// Appendices "Glob-style matching" and the event_match examples of
// client-server-api "Conditions".
func TestGlob_WholeValue(t *testing.T) {
	for _, c := range []struct {
		pattern, value string
		want           bool
	}{
		{"lunc?*", "Lunch plans", true},
		{"lunc?*", "LUNCH", true},
		{"lunc?*", " lunch", false}, // leading space
		{"lunc?*", "lunc", false},   // ? needs a character
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "M.Room.Message", true},
		{"m.room.message", "m.room.messages", false},
		{"", "", true},
		{"", "x", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"??", "é!", true}, // ? is a character, not a byte
		{"?", "é", true},
		{"*.example.org", "matrix.EXAMPLE.org", true},
	} {
		if got := compileGlob(c.pattern).match(strings.ToLower(c.value)); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.value, got, c.want)
		}
	}
}

// content.body matches any substring that starts and ends at a word
// boundary (client-server-api "Conditions", event_match).
func TestGlob_BodyWordBoundaries(t *testing.T) {
	for _, c := range []struct {
		pattern, body string
		want          bool
	}{
		{"ex*ple", "An example event.", true},
		{"ex*ple", "exple", true},
		{"ex*ple", "An exciting triple-whammy", true},
		{"ex*ple", "An examples event", false},
		{"ex*ple", "Anexample event", false},
		{"cake", "I like cake!", true},
		{"cake", "I like cakes", false},
		{"cake", "pancake", false},
		{"cake", "CAKE", true},
		{"cake*lie", "the cake is a lie", true},
		{"cake*lie", "the cake is a lies", false},
		{"cake*lie", "cake lie cakelie", true},
		{"b?d", "a bad_word", false}, // _ is a word character
		{"b?d", "a bad-word", true},
		{"alice", "héllo alice", true},
		{"*", "", true},
		{"x*", "ax", false},
	} {
		if got := compileGlob(c.pattern).matchWords(strings.ToLower(c.body)); got != c.want {
			t.Errorf("%q in body %q = %v, want %v", c.pattern, c.body, got, c.want)
		}
		if ref := refRegexp(c.pattern, true).MatchString(strings.ToLower(c.body)); ref != c.want {
			t.Errorf("reference disagrees with the table for %q in %q", c.pattern, c.body)
		}
	}
}
