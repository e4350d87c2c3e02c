package relationstore

import (
	"context"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

const relCols = `event_id, room_id, relates_to_id, rel_type, event_type, sender, stream_pos, origin_ts, is_state, has_new_content, agg_key`

// ChildrenQuery selects a page of an event's children.
type ChildrenQuery struct {
	RoomID   string
	ParentID string
	// RelType and EventType, when set, keep only children with them.
	RelType, EventType string
	// After and UpTo bound the children's stream positions: (After, UpTo].
	After, UpTo int64
	// Forward orders oldest first; otherwise newest first.
	Forward bool
	Limit   int
	// Depth is how many relationships away from the parent a child may be:
	// 1 for direct children only.
	Depth int
}

// Children returns a page of the events relating to q.ParentID (directly,
// or through up to q.Depth relationships) in q.RoomID, ordered by stream
// position.
func (s *Store) Children(ctx context.Context, q ChildrenQuery) ([]Relation, error) {
	order := "DESC"
	if q.Forward {
		order = "ASC"
	}
	args := []any{q.ParentID, q.RoomID, q.After, q.UpTo}
	var where strings.Builder
	col := "" // the relations' columns' qualifier
	if q.Depth > 1 {
		col = "r."
	}
	if q.RelType != "" {
		args = append(args, q.RelType)
		where.WriteString(` AND ` + col + `rel_type = $5`)
		if q.EventType != "" {
			args = append(args, q.EventType)
			where.WriteString(` AND ` + col + `event_type = $6`)
		}
	}
	args = append(args, q.Limit)
	lim := len(args)
	if q.Depth <= 1 {
		return s.query(ctx, `SELECT `+relCols+` FROM event_relations
			WHERE relates_to_id = $1 AND room_id = $2 AND stream_pos > $3 AND stream_pos <= $4`+where.String()+`
			ORDER BY stream_pos `+order+` LIMIT $`+itoa(lim), args...)
	}
	// The children of the children, up to Depth relationships away
	// (relations.yaml "recurse"), from the list of each event's ancestors:
	// an index range read in stream order, whatever the number of
	// children.
	args = append(args, min(q.Depth, MaxDepth))
	return s.query(ctx, `SELECT `+prefixed("r.", relCols)+` FROM event_ancestors a JOIN event_relations r ON r.event_id = a.event_id
		WHERE a.ancestor_id = $1 AND a.room_id = $2 AND a.stream_pos > $3 AND a.stream_pos <= $4 AND a.depth <= $`+itoa(lim+1)+where.String()+`
		ORDER BY a.stream_pos `+order+` LIMIT $`+itoa(lim), args...)
}

// prefixed qualifies each of a comma-separated column list.
func prefixed(p, cols string) string {
	return p + strings.ReplaceAll(cols, ", ", ", "+p)
}

// parentsPerQuery bounds an IN list (SQLite allows 32 766 parameters).
const parentsPerQuery = 500

// OfParents returns the relations of the given types to any of the
// parents, with stream positions up to upTo, oldest first, from senders
// not in skipSenders.
func (s *Store) OfParents(ctx context.Context, parentIDs, relTypes []string, upTo int64, skipSenders []string) ([]Relation, error) {
	var out []Relation
	err := forChunks(parentIDs, func(chunk []string) error {
		args, in := inArgs([]any{upTo}, relTypes, chunk, skipSenders)
		rs, err := s.query(ctx, `SELECT `+relCols+` FROM event_relations
			WHERE stream_pos <= $1 AND rel_type IN (`+in[0]+`) AND relates_to_id IN (`+in[1]+`)`+notIn(in[2])+`
			ORDER BY stream_pos`, args...)
		out = append(out, rs...)
		return err
	})
	return out, err
}

// Related returns which of parentIDs in roomID have a child whose
// rel_type is in relTypes and whose sender is in senders (a nil list
// allows any; an empty one none).
func (s *Store) Related(ctx context.Context, roomID string, parentIDs []string, relTypes, senders *[]string) (map[string]bool, error) {
	out := map[string]bool{}
	if (relTypes != nil && len(*relTypes) == 0) || (senders != nil && len(*senders) == 0) {
		return out, nil
	}
	err := forChunks(parentIDs, func(chunk []string) error {
		var types, from []string
		if relTypes != nil {
			types = *relTypes
		}
		if senders != nil {
			from = *senders
		}
		args, in := inArgs([]any{roomID}, chunk, types, from)
		where := ""
		if in[1] != "" {
			where += ` AND rel_type IN (` + in[1] + `)`
		}
		if in[2] != "" {
			where += ` AND sender IN (` + in[2] + `)`
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT relates_to_id FROM event_relations
			WHERE room_id = $1 AND relates_to_id IN (`+in[0]+`)`+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	return out, err
}

// ThreadSummary is what the index knows of one thread for a reader.
type ThreadSummary struct {
	Count int
	// LatestEventID is the latest reply (by stream position).
	LatestEventID string
	// Participated reports whether the reader sent a reply.
	Participated bool
}

// Parent names an event and its room: only children in the same room
// relate to it.
type Parent struct{ RoomID, EventID string }

// ThreadsQuery selects a page of a room's threads.
type ThreadsQuery struct {
	RoomID string
	// UpTo bounds the latest replies' positions, and so does Before,
	// exclusively, when HasBefore.
	Before, UpTo int64
	HasBefore    bool
	// Participant, when set, keeps the threads this user started or
	// replied to.
	Participant string
	Limit       int
}

// Threads returns a page of a room's threads, latest activity first.
func (s *Store) Threads(ctx context.Context, q ThreadsQuery) ([]Thread, error) {
	args := []any{q.RoomID, q.UpTo, q.Limit}
	where := ""
	if q.HasBefore {
		args = append(args, q.Before)
		where += ` AND latest_pos < $4`
	}
	if q.Participant != "" {
		args = append(args, q.Participant, event.RelThread)
		n := len(args)
		// A thread not summarized yet has no thread_senders rows: its
		// replies are looked at instead.
		where += ` AND (root_sender = $` + itoa(n-1) + `
			OR EXISTS (SELECT 1 FROM thread_senders s
				WHERE s.root_id = threads.root_id AND s.room_id = threads.room_id AND s.sender = $` + itoa(n-1) + `)
			OR NOT summarized AND EXISTS (SELECT 1 FROM event_relations r
				WHERE r.relates_to_id = threads.root_id AND r.sender = $` + itoa(n-1) + ` AND r.rel_type = $` + itoa(n) + `))`
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT root_id, room_id, latest_event_id, latest_pos FROM threads
		WHERE room_id = $1 AND latest_pos <= $2`+where+` ORDER BY latest_pos DESC LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Thread
	for rows.Next() {
		var t Thread
		if err := rows.Scan(&t.RootID, &t.RoomID, &t.LatestEventID, &t.LatestPos); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Relation, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Relation
	for rows.Next() {
		var r Relation
		if err := rows.Scan(&r.EventID, &r.RoomID, &r.RelatesToID, &r.RelType, &r.EventType, &r.Sender,
			&r.StreamPos, &r.OriginTS, &r.IsState, &r.HasNewContent, &r.Key); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// forChunks calls fn on ids in slices of at most parentsPerQuery.
func forChunks(ids []string, fn func(chunk []string) error) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), parentsPerQuery)]
		ids = ids[len(chunk):]
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// inArgs appends the lists to args and returns the placeholders of each
// ("" for an empty list).
func inArgs(args []any, lists ...[]string) ([]any, []string) {
	ph := make([]string, len(lists))
	for i, l := range lists {
		if len(l) == 0 {
			continue
		}
		ph[i] = sqldb.Placeholders(len(args)+1, len(l))
		for _, v := range l {
			args = append(args, v)
		}
	}
	return args, ph
}

// notIn is the clause leaving out senders, or nothing for no placeholders.
func notIn(ph string) string {
	if ph == "" {
		return ""
	}
	return ` AND sender NOT IN (` + ph + `)`
}

func itoa(n int) string { return strconv.Itoa(n) }
