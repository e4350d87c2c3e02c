package userdirstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// MaxSearchWords bounds the words of a search term that are matched (the
// rest are ignored).
const MaxSearchWords = 8

// Query is one directory search.
type Query struct {
	// Searcher is the user searching.
	Searcher string
	// Term is the search term as typed.
	Term string
	// Limit is the most results returned.
	Limit int
	// All lists every user (user_directory.search_all_users); otherwise
	// only users in public rooms or sharing a room with the searcher.
	All bool
	// PreferLocal ranks local users first within each rank below.
	PreferLocal bool
}

// Search returns the users matching q: every word of the term is a prefix
// of one of the user's words (of their display name or user ID). They are
// ranked in three tiers, each ordered by display name: users whose user ID
// or localpart is the term, then users whose display name (or localpart,
// when they have none) starts with the term, then the other matches.
// limited reports that more users matched than Limit.
//
// Each tier is one query, and the next runs only while the limit is not
// reached: the first two read the users' indexes in order and stop at the
// limit, so typing the start of a name costs little however many users
// match; only the third ranks every user a word matches.
func (s *Store) Search(ctx context.Context, q Query) (results []Entry, limited bool, err error) {
	words := Words(q.Term)
	if len(words) > MaxSearchWords {
		words = words[:MaxSearchWords]
	}
	if len(words) == 0 || q.Limit <= 0 {
		return nil, false, nil
	}
	raw := strings.TrimSpace(q.Term)
	term := strings.ToLower(strings.TrimPrefix(raw, "@"))
	want := q.Limit + 1
	for tier := range 3 {
		found, err := s.searchTier(ctx, q, tier, raw, term, words, want-len(results))
		if err != nil {
			return nil, false, err
		}
		results = append(results, found...)
		if len(results) >= want {
			break
		}
	}
	if len(results) > q.Limit {
		return results[:q.Limit], true, nil
	}
	return results, false, nil
}

func (s *Store) searchTier(ctx context.Context, q Query, tier int, raw, term string, words []string, limit int) ([]Entry, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString(`SELECT u.user_id, u.display_name, u.avatar_url, u.is_local FROM userdir_users u WHERE `)
	// Every parameter must be used: PostgreSQL cannot type one that is not.
	exact := `(u.localpart = ` + arg(term) + ` OR u.user_id = ` + arg(raw) + `)`
	prefix := func() string {
		return `(u.sort_name >= ` + arg(term) + ` AND u.sort_name < ` + arg(sqldb.PrefixEnd(term)) + `)`
	}
	switch tier {
	case 0:
		b.WriteString(exact)
	case 1:
		// A name starting with the term matches every word of it.
		b.WriteString(prefix() + ` AND NOT ` + exact)
	default:
		b.WriteString(`NOT ` + prefix() + ` AND NOT ` + exact)
		// The longest word is the most selective: it picks the
		// candidates by a range scan of the words index, the others are
		// checked on them.
		longest := 0
		for i, w := range words {
			if len(w) > len(words[longest]) {
				longest = i
			}
		}
		b.WriteString(` AND u.user_id IN (SELECT w.user_id FROM userdir_words w WHERE w.word >= ` +
			arg(words[longest]) + ` AND w.word < ` + arg(sqldb.PrefixEnd(words[longest])) + `)`)
		for i, w := range words {
			if i != longest {
				b.WriteString(` AND EXISTS (SELECT 1 FROM userdir_words w WHERE w.user_id = u.user_id AND w.word >= ` +
					arg(w) + ` AND w.word < ` + arg(sqldb.PrefixEnd(w)) + `)`)
			}
		}
	}
	searcher := arg(q.Searcher)
	if q.All {
		// As Synapse: with search_all_users the searcher is not listed.
		b.WriteString(` AND u.user_id <> ` + searcher)
	} else {
		b.WriteString(` AND (EXISTS (SELECT 1 FROM userdir_members m JOIN userdir_rooms r ON r.room_id = m.room_id
				WHERE m.user_id = u.user_id AND r.is_public)
			OR EXISTS (SELECT 1 FROM userdir_members mine JOIN userdir_members theirs ON theirs.room_id = mine.room_id
				WHERE mine.user_id = ` + searcher + ` AND theirs.user_id = u.user_id))`)
	}
	b.WriteString(` ORDER BY `)
	if q.PreferLocal {
		b.WriteString(`CASE WHEN u.is_local THEN 0 ELSE 1 END, `)
	}
	b.WriteString(`u.sort_name, u.user_id LIMIT ` + arg(limit))

	rows, err := s.db.Read.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.UserID, &e.DisplayName, &e.AvatarURL, &e.Local); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
