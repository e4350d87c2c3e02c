package serveracl

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAllows checks that Parse and Allows never panic on any content or
// server name, and that for a plain host name (no port, no brackets)
// Allows agrees with a straightforward reading of appendices "Glob-style
// matching", ignores a port, and ignores ASCII case.
func FuzzAllows(f *testing.F) {
	f.Add("*.evil.example", "a.evil.example")
	f.Add("hs?.example", "hs1.example")
	f.Add("*a*b*c", "xaxxbxxabcxc")
	f.Add(`{"allow":["*"],"deny":["1.2.3.4"],"allow_ip_literals":false}`, "1.2.3.4:8448")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// Arbitrary bytes as content, arbitrary name: no panic.
		_ = Parse(json.RawMessage(pattern)).Allows(name)

		content, _ := json.Marshal(map[string]any{"allow": []string{pattern}})
		// JSON replaces invalid UTF-8; read back what the ACL really holds.
		var back struct{ Allow []string }
		if err := json.Unmarshal(content, &back); err != nil || len(back.Allow) != 1 {
			t.Fatalf("round trip of %q: %v", pattern, err)
		}
		acl := Parse(content)
		got := acl.Allows(name)
		if !plainHost(name) {
			return
		}
		want := refMatchMemo([]rune(lower(back.Allow[0])), []rune(lower(name)))
		if got != want {
			t.Fatalf("allow [%q]: Allows(%q) = %v, reference %v", back.Allow[0], name, got, want)
		}
		if p := acl.Allows(name + ":8448"); p != got {
			t.Fatalf("allow [%q]: Allows(%q) = %v but with a port %v", back.Allow[0], name, got, p)
		}
		if isASCII(name) {
			if u := acl.Allows(strings.ToUpper(name)); u != got {
				t.Fatalf("allow [%q]: Allows(%q) = %v but upper-cased %v", back.Allow[0], name, got, u)
			}
		}
	})
}

// plainHost: a name with no port or brackets, short enough to be a host,
// valid UTF-8 (so that the rune-wise reference sees what Allows sees).
func plainHost(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsAny(s, ":[") && utf8.RuneCountInString(s) <= maxHostLen
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
