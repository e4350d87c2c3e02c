package pushrules

import (
	"strings"
	"unicode/utf8"
)

// glob is a compiled glob (appendices "Glob-style matching": "*" matches
// zero or more characters, "?" exactly one, anything else itself). Push
// rule globs match case-insensitively, so the pattern is lower-cased once
// here and values once per event.
//
// The pattern is kept as the segments between its stars. A match places
// the first segment at the start, the last at the end, and each one between
// at its leftmost place after the previous: whatever text a star skips,
// the next star can skip as well, so leftmost placement never loses a
// match. That bounds a match at len(pattern)·len(value) steps with no
// backtracking and no regexp.
type glob struct {
	segs []string // lower-cased; "?" inside a segment matches any character
	star bool     // the pattern has a "*": len(segs) ≥ 2
	lit  bool     // no wildcard at all: a plain comparison
}

func compileGlob(pattern string) *glob {
	pattern = strings.ToLower(pattern)
	g := &glob{segs: strings.Split(pattern, "*")}
	g.star = len(g.segs) > 1
	g.lit = !g.star && !strings.Contains(pattern, "?")
	return g
}

// segAt matches seg at s[i:] and returns where the match ends, or -1.
func segAt(s string, i int, seg string) int {
	for _, pr := range seg {
		if i >= len(s) {
			return -1
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if pr != '?' && pr != r {
			return -1
		}
		i += w
	}
	return i
}

// runeLen is the number of characters seg matches.
func runeLen(seg string) int { return utf8.RuneCountInString(seg) }

// backRunes returns the index n characters before the end of s, or -1.
func backRunes(s string, n int) int {
	i := len(s)
	for ; n > 0; n-- {
		if i == 0 {
			return -1
		}
		_, w := utf8.DecodeLastRuneInString(s[:i])
		i -= w
	}
	return i
}

// placeMiddle places the segments between the first and the last at their
// leftmost places from i; it returns where the last of them ends, or -1.
func (g *glob) placeMiddle(s string, i int) int {
	for _, seg := range g.segs[1 : len(g.segs)-1] {
		j := i
		for {
			if e := segAt(s, j, seg); e >= 0 {
				i = e
				break
			}
			if j >= len(s) {
				return -1
			}
			_, w := utf8.DecodeRuneInString(s[j:])
			j += w
		}
	}
	return i
}

// match reports whether the whole of s (already lower-cased) matches.
func (g *glob) match(s string) bool {
	if g.lit {
		return s == g.segs[0]
	}
	first, last := g.segs[0], g.segs[len(g.segs)-1]
	i := segAt(s, 0, first)
	if i < 0 {
		return false
	}
	if !g.star {
		return i == len(s)
	}
	if i = g.placeMiddle(s, i); i < 0 {
		return false
	}
	j := backRunes(s, runeLen(last))
	return j >= i && segAt(s, j, last) == len(s)
}

// isWordByte reports whether c is in [A-Za-z0-9_]; every other character,
// including every non-ASCII one, is a word boundary.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func boundaryBefore(s string, i int) bool { return i == 0 || !isWordByte(s[i-1]) }
func boundaryAt(s string, i int) bool     { return i == len(s) || !isWordByte(s[i]) }

// matchWords reports whether some substring of s (already lower-cased)
// that starts and ends at a word boundary matches: the rule for
// content.body (client-server-api "Conditions", event_match).
func (g *glob) matchWords(s string) bool {
	first, last := g.segs[0], g.segs[len(g.segs)-1]
	for i := 0; i <= len(s); {
		if boundaryBefore(s, i) {
			if e := segAt(s, i, first); e >= 0 {
				if !g.star {
					if boundaryAt(s, e) {
						return true
					}
				} else {
					// Everything after the first segment is placed
					// leftmost from e; a later start only moves e right,
					// so if this fails every later start fails too.
					return lastFrom(s, g.placeMiddle(s, e), last)
				}
			}
		}
		if i == len(s) {
			break
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return false
}

// lastFrom reports whether last matches somewhere at or after i and ends
// at a word boundary.
func lastFrom(s string, i int, last string) bool {
	if i < 0 {
		return false
	}
	for j := i; j <= len(s); {
		if e := segAt(s, j, last); e >= 0 && boundaryAt(s, e) {
			return true
		}
		if j == len(s) {
			break
		}
		_, w := utf8.DecodeRuneInString(s[j:])
		j += w
	}
	return false
}
