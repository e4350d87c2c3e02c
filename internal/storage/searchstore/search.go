package searchstore

import (
	"context"
	"encoding/json"
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

// Cursor is where a page ended: the last hit's score and position.
type Cursor struct {
	Score float64
	Pos   int64
}

// Hit is one matching event.
type Hit struct {
	EventID, RoomID, Sender string
	StreamPos               int64
	// Rank is higher for a better match (search.yaml: rank).
	Rank float64
}

// Cursor is where a page ending at h continues.
func (h Hit) Cursor() Cursor { return Cursor{Score: -h.Rank, Pos: h.StreamPos} }

// MaxLimit bounds one page.
const MaxLimit = 1000

// Search returns up to q.Limit hits of q, best (or newest) first.
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	where, args, ok := s.where(q)
	if !ok {
		return nil, nil
	}
	en := s.en
	order := en.pos + ` DESC`
	outerOrder := `pos DESC`
	if !q.Recent {
		order = en.score + `, ` + order
		outerOrder = `score, pos DESC`
	}
	if q.After != nil {
		args = append(args, q.After.Pos)
		p := `$` + strconv.Itoa(len(args))
		if q.Recent {
			where += ` AND ` + en.pos + ` < ` + p
		} else {
			args = append(args, q.After.Score)
			r := `$` + strconv.Itoa(len(args))
			where += ` AND (` + en.score + ` > ` + r + ` OR (` + en.score + ` = ` + r + ` AND ` + en.pos + ` < ` + p + `))`
		}
	}
	args = append(args, min(max(q.Limit, 1), MaxLimit))
	// The inner query finds the page; the outer one scores only the rows
	// kept (on PostgreSQL ts_rank reads each row's vector, which a "recent"
	// page must not pay for every match).
	query := `SELECT event_id, room_id, sender, pos, ` + en.outerScore + ` AS score FROM (
		SELECT e.event_id, e.room_id, e.sender, ` + en.pos + ` AS pos, ` + en.carry + ` AS s
		FROM ` + en.from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(len(args)) + `
	) t ORDER BY ` + outerOrder
	rows, err := s.db.Read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var h Hit
		var score float64
		if err := rows.Scan(&h.EventID, &h.RoomID, &h.Sender, &h.StreamPos, &score); err != nil {
			return nil, err
		}
		h.Rank = -score
		out = append(out, h)
	}
	return out, rows.Err()
}

// Count returns how many events match q (ignoring After and Limit), at
// most limit: the response's count is an estimate the spec allows, and
// counting every match of a common word would cost more than the search.
func (s *Store) Count(ctx context.Context, q Query, limit int) (int, error) {
	where, args, ok := s.where(q)
	if !ok {
		return 0, nil
	}
	args = append(args, limit)
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM `+s.en.from+` WHERE `+where+
		` LIMIT $`+strconv.Itoa(len(args))+`) c`, args...).Scan(&n)
	return n, err
}

// where builds the conditions of q; ok is false when q can match nothing.
func (s *Store) where(q Query) (string, []any, bool) {
	if q.Terms.Empty() || (len(q.Joined) == 0 && len(q.Left) == 0) || (q.Senders != nil && len(q.Senders) == 0) {
		return "", nil, false
	}
	en := s.en
	args := []any{en.render(q.Terms), q.UpTo}
	var b strings.Builder
	b.WriteString(en.match + ` AND ` + en.pos + ` <= $2`)
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

func jsonArray(v any) string {
	b, _ := json.Marshal(v) // strings and numbers only
	return string(b)
}
