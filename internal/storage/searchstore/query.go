package searchstore

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Terms is a user's search term parsed into what both engines can express:
// every clause must match (AND); a clause matches when any of its phrases
// does (OR); a negated phrase must not match. The syntax is the web-search
// one Synapse accepts (and PostgreSQL's websearch_to_tsquery): words,
// "quoted phrases", a leading - to exclude, and "or" between alternatives.
//
// Words are runs of letters, digits and marks; everything else separates
// them, so "foo-bar" is the phrase foo bar. Unquoted words match as
// prefixes (Synapse does the same), quoted ones exactly.
//
// Terms never carries the user's text into a query unchanged: Render*
// quote each word, and words contain no quote characters at all.
type Terms struct {
	Clauses []Clause
	Not     []Phrase
}

// Clause is one AND-ed part of a query: any of its phrases matches it.
type Clause struct{ Any []Phrase }

// Phrase is a sequence of words that must occur together, in order.
// Prefix makes the last word match any word it begins.
type Phrase struct {
	Words  []string
	Prefix bool
}

// Bounds on a parsed query, so that a long search term cannot make a query
// that costs the database seconds.
const (
	MaxTermBytes     = 1000
	maxPhrases       = 16
	maxWordsInPhrase = 8
	maxWordBytes     = 100
)

// Empty reports whether t matches nothing: a query needs at least one
// positive clause (neither engine can list "every event without x").
func (t Terms) Empty() bool { return len(t.Clauses) == 0 }

// Whole returns t with every word matching whole, not as a prefix.
func (t Terms) Whole() Terms {
	out := Terms{Clauses: make([]Clause, len(t.Clauses)), Not: make([]Phrase, len(t.Not))}
	whole := func(p Phrase) Phrase { return Phrase{Words: p.Words} }
	for i, c := range t.Clauses {
		for _, p := range c.Any {
			out.Clauses[i].Any = append(out.Clauses[i].Any, whole(p))
		}
	}
	for i, p := range t.Not {
		out.Not[i] = whole(p)
	}
	return out
}

// Words returns the positive words of t, each once, in order: the
// response's highlights.
func (t Terms) Words() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range t.Clauses {
		for _, p := range c.Any {
			for _, w := range p.Words {
				if lw := strings.ToLower(w); !seen[lw] {
					seen[lw] = true
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// ParseTerms parses a search term (see Terms). It never fails: what is
// not a word is a separator, and a term beyond the bounds is cut.
func ParseTerms(term string) Terms {
	if len(term) > MaxTermBytes {
		term = term[:MaxTermBytes]
	}
	var t Terms
	phrases := 0
	orNext := false       // the previous token was "or" after a positive phrase
	lastPositive := false // the previous phrase was a positive one
	for rest := term; rest != ""; {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		negate := false
		if rest[0] == '-' {
			negate = true
			rest = rest[1:]
		}
		var p Phrase
		var raw string
		if rest != "" && rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				raw, rest = rest[1:], ""
			} else {
				raw, rest = rest[1:1+end], rest[2+end:]
			}
			p = Phrase{Words: splitWords(raw, maxWordsInPhrase)}
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			raw, rest = rest[:end], rest[end:]
			if !negate && strings.EqualFold(raw, "or") {
				orNext = lastPositive
				continue
			}
			if !negate && strings.EqualFold(raw, "and") {
				continue
			}
			p = Phrase{Words: splitWords(raw, maxWordsInPhrase), Prefix: true}
		}
		if len(p.Words) == 0 || phrases == maxPhrases {
			continue
		}
		phrases++
		switch {
		case negate:
			t.Not = append(t.Not, p)
		case orNext:
			last := &t.Clauses[len(t.Clauses)-1]
			last.Any = append(last.Any, p)
		default:
			t.Clauses = append(t.Clauses, Clause{Any: []Phrase{p}})
		}
		orNext, lastPositive = false, !negate
	}
	return t
}

// splitWords returns the runs of word characters in s, at most max of
// them (max < 0: all), each at most maxWordBytes long (cut at a character
// boundary).
func splitWords(s string, max int) []string {
	words := strings.FieldsFunc(s, func(r rune) bool { return !isWordRune(r) })
	if max >= 0 && len(words) > max {
		words = words[:max]
	}
	for i, w := range words {
		if len(w) > maxWordBytes {
			cut := maxWordBytes
			for cut > 0 && !utf8.RuneStart(w[cut]) {
				cut--
			}
			words[i] = w[:cut]
		}
	}
	return words
}

// isWordRune is what both engines' tokenizers keep inside a token: SQLite
// FTS5's unicode61 (letters, numbers, private use; marks stay with their
// letter) and, near enough, PostgreSQL's default parser. Where they differ
// the quoted word is only split further by the engine, never misread.
func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || unicode.Is(unicode.Co, r))
}

// RenderFTS5 writes t in SQLite FTS5's query syntax: every word inside a
// double-quoted string (the engine's literal), operators between them.
func (t Terms) RenderFTS5() string {
	var b strings.Builder
	if len(t.Not) > 0 {
		b.WriteByte('(') // NOT is binary in FTS5: (positives) NOT (any negative)
	}
	t.renderPositive(&b, " AND ", " OR ", writeFTS5Phrase)
	if len(t.Not) > 0 {
		b.WriteString(") NOT (")
		for j, p := range t.Not {
			if j > 0 {
				b.WriteString(" OR ")
			}
			writeFTS5Phrase(&b, p)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// renderPositive writes the clauses of t, joined by and, each a
// parenthesised list of its phrases joined by or.
func (t Terms) renderPositive(b *strings.Builder, and, or string, phrase func(*strings.Builder, Phrase)) {
	for i, c := range t.Clauses {
		if i > 0 {
			b.WriteString(and)
		}
		b.WriteByte('(')
		for j, p := range c.Any {
			if j > 0 {
				b.WriteString(or)
			}
			phrase(b, p)
		}
		b.WriteByte(')')
	}
}

func writeFTS5Phrase(b *strings.Builder, p Phrase) {
	b.WriteByte('"')
	for i, w := range p.Words {
		if i > 0 {
			b.WriteByte(' ')
		}
		// Words hold no quotes (isWordRune); doubling is FTS5's escape,
		// kept so that this function is safe on its own.
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
	}
	b.WriteByte('"')
	if p.Prefix {
		b.WriteByte('*')
	}
}

// RenderTSQuery writes t in PostgreSQL's to_tsquery syntax: each word a
// quoted lexeme ('word', or 'word':* as a prefix), phrases joined by <->.
func (t Terms) RenderTSQuery() string {
	var b strings.Builder
	t.renderPositive(&b, " & ", " | ", writeTSPhrase)
	for _, p := range t.Not {
		b.WriteString(" & !(")
		writeTSPhrase(&b, p)
		b.WriteByte(')')
	}
	return b.String()
}

var tsEscaper = strings.NewReplacer(`'`, `''`, `\`, `\\`)

func writeTSPhrase(b *strings.Builder, p Phrase) {
	b.WriteByte('(')
	for i, w := range p.Words {
		if i > 0 {
			b.WriteString(" <-> ")
		}
		b.WriteByte('\'')
		b.WriteString(tsEscaper.Replace(w))
		b.WriteByte('\'')
		if p.Prefix && i == len(p.Words)-1 {
			b.WriteString(":*")
		}
	}
	b.WriteByte(')')
}
