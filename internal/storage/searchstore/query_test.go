package searchstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	_ "modernc.org/sqlite" // the FTS5 engine the rendered queries are checked against
)

func TestParseTerms(t *testing.T) {
	p := func(words ...string) Phrase { return Phrase{Words: words, Prefix: true} }
	q := func(words ...string) Phrase { return Phrase{Words: words} }
	for _, c := range []struct {
		term string
		want Terms
	}{
		{"martians and men", Terms{Clauses: []Clause{{Any: []Phrase{p("martians")}}, {Any: []Phrase{p("men")}}}}},
		{`"red planet" -moon`, Terms{Clauses: []Clause{{Any: []Phrase{q("red", "planet")}}}, Not: []Phrase{p("moon")}}},
		{"mars OR venus or", Terms{Clauses: []Clause{{Any: []Phrase{p("mars"), p("venus")}}}}},
		{"or mars", Terms{Clauses: []Clause{{Any: []Phrase{p("mars")}}}}},
		{"-mars or venus", Terms{Clauses: []Clause{{Any: []Phrase{p("venus")}}}, Not: []Phrase{p("mars")}}},
		{"e-mail c++", Terms{Clauses: []Clause{{Any: []Phrase{p("e", "mail")}}, {Any: []Phrase{p("c")}}}}},
		{`"unterminated phrase`, Terms{Clauses: []Clause{{Any: []Phrase{q("unterminated", "phrase")}}}}},
		{"*** ---", Terms{}},
	} {
		if got := ParseTerms(c.term); !equalTerms(got, c.want) {
			t.Errorf("ParseTerms(%q) = %+v, want %+v", c.term, got, c.want)
		}
	}
	got := ParseTerms("Mars mars MARS venus").Words()
	if !slices.Equal(got, []string{"Mars", "venus"}) {
		t.Errorf("Words: %v", got)
	}
}

func equalTerms(a, b Terms) bool {
	eqP := func(x, y Phrase) bool { return x.Prefix == y.Prefix && slices.Equal(x.Words, y.Words) }
	if len(a.Clauses) != len(b.Clauses) || !slices.EqualFunc(a.Not, b.Not, eqP) {
		return false
	}
	for i := range a.Clauses {
		if !slices.EqualFunc(a.Clauses[i].Any, b.Clauses[i].Any, eqP) {
			return false
		}
	}
	return true
}

func TestParseTerms_Bounded(t *testing.T) {
	long := strings.Repeat("word ", 1000) + strings.Repeat("x", 5000)
	terms := ParseTerms(long)
	n := 0
	for _, c := range terms.Clauses {
		n += len(c.Any)
	}
	if n > maxPhrases {
		t.Errorf("%d phrases kept", n)
	}
	if r := terms.RenderFTS5(); len(r) > 4*MaxTermBytes {
		t.Errorf("rendered query of %d bytes", len(r))
	}
}

var fuzzDB struct {
	once sync.Once
	db   *sql.DB
	err  error
}

// FuzzParseTerms checks that any term becomes bounded words of word
// characters only, and a query SQLite's FTS5 accepts: a user's search term
// must never be a syntax error (a 500) or reach the engine unquoted.
func FuzzParseTerms(f *testing.F) {
	for _, s := range hostileTerms {
		f.Add(s)
	}
	f.Add("martians and men")
	f.Add(`"red planet" -moon or venus*`)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, term string) {
		terms := ParseTerms(term)
		phrases := len(terms.Not)
		for _, c := range append(slices.Clone(terms.Clauses), Clause{Any: terms.Not}) {
			phrases += len(c.Any)
			for _, p := range c.Any {
				if len(p.Words) == 0 || len(p.Words) > maxWordsInPhrase {
					t.Fatalf("phrase of %d words from %q", len(p.Words), term)
				}
				for _, w := range p.Words {
					if w == "" || len(w) > maxWordBytes || !utf8.ValidString(w) || strings.IndexFunc(w, func(r rune) bool { return !isWordRune(r) }) >= 0 {
						t.Fatalf("word %q from %q", w, term)
					}
				}
			}
		}
		if phrases > 2*maxPhrases {
			t.Fatalf("%d phrases from %q", phrases, term)
		}
		_ = terms.RenderTSQuery()
		if terms.Empty() {
			return
		}
		fuzzDB.once.Do(func() {
			fuzzDB.db, fuzzDB.err = sql.Open("sqlite", filepath.Join(dir, "fts.db"))
			if fuzzDB.err == nil {
				_, fuzzDB.err = fuzzDB.db.Exec(`CREATE VIRTUAL TABLE IF NOT EXISTS f USING fts5(value, content='', contentless_delete=1,
					tokenize='unicode61 remove_diacritics 2'); INSERT INTO f (rowid, value) VALUES (1, 'some words');`)
			}
		})
		if fuzzDB.err != nil {
			t.Fatal(fuzzDB.err)
		}
		rows, err := fuzzDB.db.QueryContext(context.Background(), `SELECT rowid FROM f WHERE f MATCH $1`, terms.RenderFTS5())
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if err != nil {
			t.Fatalf("FTS5 refused %q (from %q): %v", terms.RenderFTS5(), term, err)
		}
	})
}
