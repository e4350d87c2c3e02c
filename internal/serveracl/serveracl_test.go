package serveracl

import (
	"encoding/json"
	"strings"
	"testing"
)

// Rules from data/event-schemas/schema/m.room.server_acl.yaml ("applied in
// the following order") and appendices "Glob-style matching".
func TestAllows(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" for no ACL event at all
		server  string
		want    bool
	}{
		// Rule 1: no m.room.server_acl event in the room state: allow.
		{"Rule1_NoEventAllows", "", "anyone.example", true},

		// Rule 2: IP literal with allow_ip_literals false: deny, even when
		// an allow entry matches.
		{"Rule2_IPv4LiteralDenied", `{"allow":["*"],"allow_ip_literals":false}`, "1.2.3.4", false},
		{"Rule2_IPv4LiteralWithPortDenied", `{"allow":["*"],"allow_ip_literals":false}`, "1.2.3.4:8448", false},
		{"Rule2_IPv6LiteralDenied", `{"allow":["*"],"allow_ip_literals":false}`, "[2001:db8::1]", false},
		{"Rule2_IPv6LiteralWithPortDenied", `{"allow":["*"],"allow_ip_literals":false}`, "[::1]:8448", false},
		{"Rule2_BareIPv6StillALiteral", `{"allow":["*"],"allow_ip_literals":false}`, "::1", false},
		{"Rule2_HostnameUnaffected", `{"allow":["*"],"allow_ip_literals":false}`, "1.2.3.4.example", true},
		{"Rule2_LiteralsAllowedWhenTrue", `{"allow":["*"],"allow_ip_literals":true}`, "1.2.3.4", true},
		// "Defaults to true if missing or otherwise not a boolean."
		{"Rule2_DefaultsToTrueWhenMissing", `{"allow":["*"]}`, "1.2.3.4", true},
		{"Rule2_DefaultsToTrueWhenString", `{"allow":["*"],"allow_ip_literals":"false"}`, "1.2.3.4", true},
		{"Rule2_DefaultsToTrueWhenNull", `{"allow":["*"],"allow_ip_literals":null}`, "[::1]", true},
		{"Rule2_DefaultsToTrueWhenNumber", `{"allow":["*"],"allow_ip_literals":0}`, "[::1]", true},
		// A literal still passes rule 2 only to face the lists.
		{"Rule2_LiteralStillNeedsAllow", `{"allow":["*.example"]}`, "1.2.3.4", false},
		{"Rule2_LiteralMatchedByBrackets", `{"allow":["[::1]"]}`, "[::1]:8448", true},

		// Rule 3: deny beats allow.
		{"Rule3_DenyMatchDenies", `{"allow":["*"],"deny":["evil.example"]}`, "evil.example", false},
		{"Rule3_DenyGlobDenies", `{"allow":["*"],"deny":["*.evil.example"]}`, "a.b.evil.example", false},
		{"Rule3_DenyBeatsExactAllow", `{"allow":["evil.example"],"deny":["evil.example"]}`, "evil.example", false},
		{"Rule3_DenyGlobNeedsItsDot", `{"allow":["*"],"deny":["*.evil.example"]}`, "evil.example", true},

		// Rule 4: allow match allows.
		{"Rule4_AllowStar", `{"allow":["*"]}`, "good.example", true},
		{"Rule4_AllowExact", `{"allow":["good.example"]}`, "good.example", true},
		{"Rule4_AllowQuestionMark", `{"allow":["hs?.example"]}`, "hs1.example", true},

		// Rule 5: otherwise deny.
		{"Rule5_NoAllowMatchDenies", `{"allow":["good.example"]}`, "other.example", false},
		// "Defaults to an empty list when not provided, effectively
		// disallowing every server."
		{"Rule5_MissingAllowDeniesEveryone", `{"deny":[]}`, "good.example", false},
		{"Rule5_EmptyContentDeniesEveryone", `{}`, "good.example", false},
		{"Rule5_NonObjectContentDeniesEveryone", `[1,2]`, "good.example", false},
		{"Rule5_EmptyAllowDeniesEveryone", `{"allow":[]}`, "good.example", false},

		// Port is not considered: "evil.com, evil.com:8448, and
		// evil.com:1234 would all match rules that apply to evil.com".
		{"Port_StrippedForDeny", `{"allow":["*"],"deny":["evil.example"]}`, "evil.example:8448", false},
		{"Port_StrippedForDeny1234", `{"allow":["*"],"deny":["evil.example"]}`, "evil.example:1234", false},
		{"Port_StrippedForAllow", `{"allow":["good.example"]}`, "good.example:8448", true},
		{"Port_NotMatchableByPattern", `{"allow":["good.example:8448"]}`, "good.example:8448", false},

		// Case-insensitive globs.
		{"Case_PatternUpper", `{"allow":["*"],"deny":["EVIL.Example"]}`, "evil.example", false},
		{"Case_NameUpper", `{"allow":["*"],"deny":["*.evil.example"]}`, "HS.EVIL.Example:443", false},
		{"Case_AllowMixed", `{"allow":["Good.*"]}`, "gOOD.example", true},

		// Glob-style matching: "*" zero or more characters, "?" exactly one.
		{"Glob_StarMatchesZero", `{"allow":["good*.example"]}`, "good.example", true},
		{"Glob_StarMatchesMany", `{"allow":["good*.example"]}`, "good-and-more.example", true},
		{"Glob_QuestionNeedsOne", `{"allow":["good?.example"]}`, "good.example", false},
		{"Glob_QuestionOnlyOne", `{"allow":["good?.example"]}`, "good12.example", false},
		{"Glob_WholeNameAnchored", `{"allow":["good.example"]}`, "notgood.example", false},
		{"Glob_WholeNameAnchoredEnd", `{"allow":["good"]}`, "good.example", false},
		{"Glob_StarsCollapse", `{"allow":["***.example"]}`, "a.example", true},
		{"Glob_NeedsBacktrack", `{"allow":["*a*b*c"]}`, "xaxxbxxabcxc", true},
		{"Glob_NoRegexpMeaning", `{"allow":["a.b"]}`, "axb", false},
		{"Glob_NoRegexpMeaningPlus", `{"allow":["a+"]}`, "aa", false},

		// Synapse ignores non-string entries and non-array lists; so do we.
		{"Shape_NonStringEntriesIgnored", `{"allow":[1,null,{"a":"b"},["*"],"good.example"]}`, "good.example", true},
		{"Shape_NonStringEntryDoesNotAllowAll", `{"allow":[1,null,true]}`, "good.example", false},
		{"Shape_NonStringDenyIgnored", `{"allow":["*"],"deny":[5,{"x":1}]}`, "good.example", true},
		{"Shape_AllowNotAnArray", `{"allow":"*"}`, "good.example", false},
		{"Shape_DenyNotAnArray", `{"allow":["*"],"deny":"good.example"}`, "good.example", true},

		// Names a valid server name cannot be.
		{"Invalid_EmptyName", `{"allow":["*"]}`, "", false},
		{"Invalid_OverlongHostDenied", `{"allow":["*"]}`, strings.Repeat("a", 256) + ".example", false},
		{"Invalid_255CharHostAllowed", `{"allow":["*"]}`, strings.Repeat("a", 255), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var acl *ACL
			if tc.content != "" {
				acl = Parse(json.RawMessage(tc.content))
			}
			if got := acl.Allows(tc.server); got != tc.want {
				t.Errorf("content %s: Allows(%q) = %v, want %v", tc.content, tc.server, got, tc.want)
			}
		})
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"example.org":       "example.org",
		"example.org:8448":  "example.org",
		"1.2.3.4:80":        "1.2.3.4",
		"[::1]":             "[::1]",
		"[::1]:8448":        "[::1]",
		"[2001:db8::1]:443": "[2001:db8::1]",
		"[broken":           "[broken",
		"::1":               "::1",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGlob_Pathological checks the matcher stays linear-ish on patterns
// that make backtracking matchers explode (a regexp-free matcher is the
// point: see match). It asserts results, not time; a blow-up would show as
// the test hanging.
func TestGlob_Pathological(t *testing.T) {
	name := strings.Repeat("a", 255)
	pat := strings.Repeat("*a", 100) + "*b"
	acl := Parse(json.RawMessage(`{"allow":["` + pat + `"]}`))
	if acl.Allows(name) {
		t.Fatal("pattern ending in b matched a name of a's")
	}
	acl = Parse(json.RawMessage(`{"allow":["` + strings.Repeat("*a", 100) + `*"]}`))
	if !acl.Allows(name) {
		t.Fatal("*a*a…* should match 255 a's")
	}
}

// TestGlob_UnmatchablePatternsDropped: a pattern needing more characters
// than any valid host has is dropped at compile time.
func TestGlob_UnmatchablePatternsDropped(t *testing.T) {
	long := strings.Repeat("?", 256)
	acl := Parse(json.RawMessage(`{"allow":["*","` + long + `"],"deny":["` + long + `"]}`))
	if len(acl.allow) != 1 || len(acl.deny) != 0 {
		t.Fatalf("allow %d deny %d patterns, want 1 and 0", len(acl.allow), len(acl.deny))
	}
}

func TestGlob_MatchesReference(t *testing.T) {
	pats := []string{"", "*", "?", "a", "a*", "*a", "a?c", "*?*", "?*?", "a*b*c", "*ab*ab*", "??*b", "é?", "*é"}
	names := []string{"", "a", "ab", "abc", "aabcb", "abab", "xaby", "é", "éx", "xé", "aé", "bb"}
	for _, p := range pats {
		cp, ok := compile(p)
		if !ok {
			t.Fatalf("compile(%q) refused", p)
		}
		for _, n := range names {
			if got, want := cp.match(n), refMatch([]rune(p), []rune(n)); got != want {
				t.Errorf("match(%q, %q) = %v, reference says %v", p, n, got, want)
			}
		}
	}
}

// refMatch is the glob definition written as plainly as possible, for
// comparison (exponential in the worst case: small inputs only).
func refMatch(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && refMatch(p[1:], s[1:])
	default:
		return len(s) > 0 && s[0] == p[0] && refMatch(p[1:], s[1:])
	}
}

// refMatchMemo is refMatch with memoisation, polynomial, for the fuzzer.
func refMatchMemo(p, s []rune) bool {
	memo := make(map[[2]int]bool)
	var f func(i, j int) bool
	f = func(i, j int) bool {
		if i == len(p) {
			return j == len(s)
		}
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var v bool
		switch p[i] {
		case '*':
			v = f(i+1, j) || (j < len(s) && f(i, j+1))
		case '?':
			v = j < len(s) && f(i+1, j+1)
		default:
			v = j < len(s) && s[j] == p[i] && f(i+1, j+1)
		}
		memo[k] = v
		return v
	}
	return f(0, 0)
}

func BenchmarkAllows(b *testing.B) {
	deny := make([]string, 0, 500)
	for i := 0; i < 500; i++ {
		deny = append(deny, "*.evil"+strings.Repeat("x", i%20)+".example")
	}
	content, _ := json.Marshal(map[string]any{"allow": []string{"*"}, "deny": deny, "allow_ip_literals": false})
	acl := Parse(content)
	b.ReportAllocs()
	for b.Loop() {
		if !acl.Allows("matrix.good.example:8448") {
			b.Fatal("denied")
		}
	}
}
