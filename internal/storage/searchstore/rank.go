package searchstore

import "strings"

// BM25's parameters, the usual ones (and FTS5's).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// avgWords is the length of a typical chat message in words, against
// which BM25 weighs a text's length.
const avgWords = 12

// scoreHits sets each hit's Rank to a BM25 score of its text for the
// positive phrases of t: more occurrences and shorter texts rank higher.
// The score depends on the hit's own text only, with a fixed average
// length and without the corpus's term frequencies (the inverse document
// frequency): computing those costs time in proportion to all the matches,
// which rankWindow exists to avoid. For a one-word query the order is
// BM25's; for several words each counts the same.
//
// The text is split into words as the query was (splitWords), case-folded;
// a phrase counts where its words follow each other, its last word as a
// prefix when the query said so. Engines may match more than this finds
// (PostgreSQL stems "rockets" to "rocket"): such a hit still counts, with
// a lower rank.
func scoreHits(t Terms, hits []Hit) {
	var phrases []Phrase
	for _, c := range t.Clauses {
		for _, p := range c.Any {
			lp := Phrase{Prefix: p.Prefix}
			for _, w := range p.Words {
				lp.Words = append(lp.Words, strings.ToLower(w))
			}
			phrases = append(phrases, lp)
		}
	}
	for i := range hits {
		words := splitWords(strings.ToLower(hits[i].text), -1)
		norm := bm25K1 * (1 - bm25B + bm25B*float64(len(words))/avgWords)
		score := 0.0
		for _, p := range phrases {
			if f := float64(occurrences(words, p)); f > 0 {
				score += f * (bm25K1 + 1) / (f + norm)
			}
		}
		hits[i].Rank = score
		hits[i].text = ""
	}
}

// occurrences counts where p's words follow each other in words.
func occurrences(words []string, p Phrase) int {
	n := 0
	for i := 0; i+len(p.Words) <= len(words); i++ {
		match := true
		for k, w := range p.Words {
			got := words[i+k]
			if got != w && !(p.Prefix && k == len(p.Words)-1 && strings.HasPrefix(got, w)) {
				match = false
				break
			}
		}
		if match {
			n++
		}
	}
	return n
}
