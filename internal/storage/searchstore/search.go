package searchstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// Query is one page of a search.
type Query struct {
	Terms Terms
	// Keys limits the search to these keys (KeyBody, ...); none means all.
	Keys []string
	// Joined rooms are searched up to UpTo; Left rooms each up to its
	// own position (where the user left: history visibility ends there).
	Joined []string
	Left   []RoomBound
	UpTo   int64
	// Senders, when not nil, keeps only events of these senders;
	// NotSenders drops those of these (filters and ignored users).
	Senders    []string
	NotSenders []string
	// Recent orders by stream position, newest first; otherwise by rank.
	Recent bool
	// After continues after the last hit of a previous page.
	After *Cursor
	Limit int
}

// RoomBound is a room searched up to a stream position.
type RoomBound struct {
	RoomID string
	UpTo   int64
}

// Cursor is where a page ended. For "recent" the position alone says it.
// A ranked search orders the matches in windows of stream positions (see
// rankWindow): its cursor names the window, [Bottom, Top), and the last
// hit's place in it (Rank, Pos).
type Cursor struct {
	Top, Bottom int64
	Rank        float64
	Pos         int64
}

// Hit is one matching event.
type Hit struct {
	EventID, RoomID, Sender string
	StreamPos               int64
	// Rank is higher for a better match (search.yaml: rank).
	Rank float64
	// top and bottom bound the rank window the hit is from.
	top, bottom int64
	text        string
}

// Cursor is where a page ending at h continues.
func (h Hit) Cursor() Cursor {
	return Cursor{Top: h.top, Bottom: h.bottom, Rank: h.Rank, Pos: h.StreamPos}
}

// MaxLimit bounds one page.
const MaxLimit = 1000

// rankWindow is how many of the newest matches one ranked read orders.
// Both engines' rank functions (FTS5's bm25, PostgreSQL's ts_rank) cost
// time in proportion to every match of the query (measured: 2.6 s for a
// word in 190 000 of a million messages), and so would any ranking of all
// matches. A ranked search therefore orders the matches in windows: the
// rankWindow newest first, best first, then the window of the rankWindow
// before them, and so on; each window costs one newest-first read
// (docs/performance.md, "Search"). A hit's rank depends on its own text only
// (scoreHits), so a window restricted to one group (a room, a sender)
// orders that group's hits as the whole window does.
const rankWindow = 500

// belowAll is below every stream position: the bottom of the last window.
const belowAll int64 = -1 << 62

// Search returns up to q.Limit hits of q after q.After: the newest first
// (q.Recent), or the best first within each rank window (see rankWindow).
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	limit := min(max(q.Limit, 1), MaxLimit)
	q.Terms = s.en.terms(q.Terms)
	if q.Recent {
		top := q.UpTo + 1
		if q.After != nil {
			top = q.After.Pos
		}
		hits, err := s.between(ctx, q, belowAll, top, limit)
		scoreHits(q.Terms, hits)
		return hits, err
	}
	top, bottom, known := q.UpTo+1, int64(0), false
	var in *Cursor
	if q.After != nil {
		top, bottom, known, in = q.After.Top, q.After.Bottom, true, q.After
	}
	var out []Hit
	for len(out) < limit {
		var window []Hit
		var err error
		if known {
			window, err = s.between(ctx, q, bottom, top, rankWindow)
		} else {
			window, err = s.between(ctx, q, belowAll, top, rankWindow)
			bottom = belowAll
			if len(window) == rankWindow {
				bottom = window[len(window)-1].StreamPos
			}
		}
		if err != nil {
			return nil, err
		}
		scoreHits(q.Terms, window)
		sort.Slice(window, func(i, j int) bool { return better(window[i], window[j]) })
		for _, h := range window {
			if in != nil && !better(Hit{Rank: in.Rank, StreamPos: in.Pos}, h) {
				continue
			}
			h.top, h.bottom = top, bottom
			out = append(out, h)
			if len(out) == limit {
				return out, nil
			}
		}
		if bottom == belowAll {
			return out, nil
		}
		top, known, in = bottom, false, nil
	}
	return out, nil
}

// better orders ranked hits: higher rank, then newer.
func better(a, b Hit) bool {
	if a.Rank != b.Rank {
		return a.Rank > b.Rank
	}
	return a.StreamPos > b.StreamPos
}

// between reads up to limit matches of q at positions in [bottom, top),
// newest first, with their text.
func (s *Store) between(ctx context.Context, q Query, bottom, top int64, limit int) ([]Hit, error) {
	if s.en.windowed {
		return s.windows(ctx, q, bottom, top, limit)
	}
	return s.read(ctx, q, s.en.from, s.en.match, bottom, top, limit)
}

// Reading in windows of rows (PostgreSQL). The text index (GIN) answers
// which rows match all at once: cheap for a rare word, but for a word in
// a fifth of the messages it reads every match (measured: 7 to 9 s over
// 1 000 000 messages), where walking the newest rows in position order
// finds the newest ten within a hundred rows. The planner picks between
// the two from its estimate of how many rows match, which for a word
// outside its statistics' most common elements is far too high (567
// estimated for 62 real matches in 1 000 000: it walked 130 000 rows, 1.1
// s). So the matches are read in windows of rows, newest first, where the
// planner's choice costs at most the window: the firstWindow newest rows,
// then windows four times larger, as long as the matches found so far say
// that walking on would find the rest within maxWalk rows; otherwise the
// rest comes from the text index alone (docs/performance.md, "Server-side
// search": walking 50 000 rows cost more than the index for a word in
// 0.2% of them).
const (
	firstWindow = 1000
	maxWalk     = 8_000
)

func (s *Store) windows(ctx context.Context, q Query, bottom, top int64, limit int) ([]Hit, error) {
	var out []Hit
	scanned, w := 0, firstWindow
	for len(out) < limit && top > bottom {
		need := limit - len(out)
		if scanned > 0 && (len(out) == 0 || need*scanned/len(out) > maxWalk) {
			rest, err := s.read(ctx, q, s.en.from, s.en.match, bottom, top, need)
			return append(out, rest...), err
		}
		lo := bottom
		err := s.db.Read.QueryRowContext(ctx, `SELECT stream_pos FROM search_events WHERE stream_pos >= $1 AND stream_pos < $2
			ORDER BY stream_pos DESC LIMIT 1 OFFSET $3`, s.args(bottom, top, w-1)...).Scan(&lo)
		if err != nil && err != sql.ErrNoRows {
			return nil, err
		}
		hits, err := s.read(ctx, q, s.en.plainFrom, s.en.plainMatch, lo, top, need)
		if err != nil {
			return nil, err
		}
		out = append(out, hits...)
		scanned += w
		top, w = lo, min(w*4, maxWalk)
	}
	return out, nil
}

// read reads up to limit matches of q at positions in [bottom, top),
// newest first, with their text, from the given index form (from, match).
func (s *Store) read(ctx context.Context, q Query, from, match string, bottom, top int64, limit int) ([]Hit, error) {
	where, args, ok := s.where(q, match)
	if !ok {
		return nil, nil
	}
	en := s.en
	args = append(args, bottom, top, limit)
	n := len(args)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT e.event_id, e.room_id, e.sender, `+en.pos+`, e.value
		FROM `+from+` WHERE `+where+` AND `+en.pos+` >= $`+strconv.Itoa(n-2)+` AND `+en.pos+` < $`+strconv.Itoa(n-1)+`
		ORDER BY `+en.pos+` DESC LIMIT $`+strconv.Itoa(n), s.args(args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.EventID, &h.RoomID, &h.Sender, &h.StreamPos, &h.text); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Count returns how many events match q (ignoring After and Limit), at
// most limit: the response's count is an estimate the spec allows, and
// counting every match of a common word would cost more than the search.
//
// The count is not in position order, so the planner may choose freely:
// for a common word, reading rows until limit of them match; for a rare
// one, the text index (at worst it reads the whole index of the words
// whose matches it overestimates, which costs what the fenced read does).
func (s *Store) Count(ctx context.Context, q Query, limit int) (int, error) {
	where, args, ok := s.where(q, s.en.plainMatch)
	if !ok {
		return 0, nil
	}
	args = append(args, limit)
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+s.en.plainFrom+` WHERE `+where+
		` LIMIT $`+strconv.Itoa(len(args))+`) c`, s.args(args...)...).Scan(&n)
	return n, err
}

// where builds the conditions of q, the text's being match; ok is false
// when q can match nothing.
func (s *Store) where(q Query, match string) (string, []any, bool) {
	if q.Terms.Empty() || (len(q.Joined) == 0 && len(q.Left) == 0) || (q.Senders != nil && len(q.Senders) == 0) {
		return "", nil, false
	}
	en := s.en
	args := []any{en.render(en.terms(q.Terms)), q.UpTo}
	var b strings.Builder
	b.WriteString(match + ` AND ` + en.pos + ` <= $2`)
	param := func(v any) int {
		args = append(args, v)
		return len(args)
	}
	var rooms []string
	if len(q.Joined) > 0 {
		rooms = append(rooms, `e.room_id IN (`+en.texts(param(jsonArray(q.Joined)))+`)`)
	}
	if len(q.Left) > 0 {
		pairs := make([][2]any, len(q.Left))
		for i, l := range q.Left {
			pairs[i] = [2]any{l.RoomID, l.UpTo}
		}
		rooms = append(rooms, en.pos+` <= (SELECT p FROM (`+en.pairs(param(jsonArray(pairs)))+`) l WHERE l.r = e.room_id)`)
	}
	b.WriteString(` AND (` + strings.Join(rooms, ` OR `) + `)`)
	if len(q.Keys) > 0 {
		b.WriteString(` AND e.key IN (` + en.texts(param(jsonArray(q.Keys))) + `)`)
	}
	if q.Senders != nil {
		b.WriteString(` AND e.sender IN (` + en.texts(param(jsonArray(q.Senders))) + `)`)
	}
	if len(q.NotSenders) > 0 {
		b.WriteString(` AND e.sender NOT IN (` + en.texts(param(jsonArray(q.NotSenders))) + `)`)
	}
	return b.String(), args, true
}

// args are a search query's arguments after the engine's readArgs.
func (s *Store) args(args ...any) []any {
	return append(append([]any(nil), s.en.readArgs...), args...)
}

func jsonArray(v any) string {
	b, _ := json.Marshal(v) // strings and numbers only
	return string(b)
}
