package serveracl

import (
	"strings"
	"unicode/utf8"
)

// pattern is a compiled glob (appendices "Glob-style matching": "*"
// matches zero or more characters, "?" exactly one; every other character
// matches itself). Patterns are lower-cased at compile time because ACL
// matching is case-insensitive.
type pattern struct {
	kind  patternKind
	lit   string // kindLiteral: the whole pattern
	runes []rune // kindGlob: the pattern with runs of "*" collapsed to one
	// kindGlob: the literal text before the first wildcard and after the
	// last, which a match must start and end with. Checking them first
	// rejects most names at once for the common "*.example.org".
	prefix, suffix string
}

type patternKind uint8

const (
	kindLiteral patternKind = iota // no wildcards: string equality
	kindAny                        // only "*"s: matches everything
	kindGlob
)

// compile turns a glob into a pattern. ok is false for a pattern that can
// match no host Allows would consider: one needing more than maxHostLen
// characters.
func compile(glob string) (p pattern, ok bool) {
	glob = lower(glob)
	if !strings.ContainsAny(glob, "*?") {
		if utf8.RuneCountInString(glob) > maxHostLen {
			return pattern{}, false
		}
		return pattern{kind: kindLiteral, lit: glob}, true
	}
	runes := make([]rune, 0, len(glob))
	need := 0 // characters a match consumes at least
	for _, r := range glob {
		if r == '*' {
			if len(runes) > 0 && runes[len(runes)-1] == '*' {
				continue
			}
		} else {
			need++
		}
		runes = append(runes, r)
	}
	if need > maxHostLen {
		return pattern{}, false
	}
	if need == 0 {
		return pattern{kind: kindAny}, true // "*" (runs of it collapse to one)
	}
	first := strings.IndexAny(glob, "*?")
	last := strings.LastIndexAny(glob, "*?")
	return pattern{kind: kindGlob, runes: runes, prefix: glob[:first], suffix: glob[last+1:]}, true
}

// match reports whether the whole of s matches p. s must already be
// lower-cased.
//
// The glob case walks s once, remembering only the last "*" seen: on a
// mismatch it lets that star swallow one more character and retries from
// there. Earlier stars never need revisiting (whatever they matched, the
// last star can absorb the difference), so the cost is at most
// len(p)·len(s) steps: no exponential backtracking, and no regexp.
func (p *pattern) match(s string) bool {
	switch p.kind {
	case kindLiteral:
		return s == p.lit
	case kindAny:
		return true
	}
	if !strings.HasPrefix(s, p.prefix) || !strings.HasSuffix(s, p.suffix) {
		return false
	}
	pr := p.runes
	pi, si := 0, 0
	star, starS := -1, 0 // index of the last "*" in pr, and where in s it started
	for si < len(s) {
		r, w := utf8.DecodeRuneInString(s[si:])
		switch {
		case pi < len(pr) && pr[pi] == '*':
			star, starS = pi, si
			pi++
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == r):
			pi++
			si += w
		case star >= 0:
			// Let the last star take one more character.
			_, w0 := utf8.DecodeRuneInString(s[starS:])
			starS += w0
			pi, si = star+1, starS
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}
