package relationstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
)

// Unsummarized returns up to limit threads indexed before their summaries
// were kept (relations migration 3), for the summary backfill to count.
func (s *Store) Unsummarized(ctx context.Context, limit int) ([]Parent, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, root_id FROM threads WHERE NOT summarized
		ORDER BY room_id, root_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Parent
	for rows.Next() {
		var p Parent
		if err := rows.Scan(&p.RoomID, &p.EventID); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Summarize counts the replies of threads from the index, once each, and
// marks them summarized: from then on their summaries follow each reply.
func (s *Store) Summarize(ctx context.Context, threads []Parent) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, p := range threads {
			if err := summarizeThread(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// summarizeThread counts one thread. Its threads row is locked first (on
// PostgreSQL a writer indexing or unindexing a reply of this thread takes
// the same row first): a reply committed before the lock is read by the
// counts below, and one written after it waits and then adds itself to
// the counts made here.
func summarizeThread(ctx context.Context, tx *sql.Tx, p Parent) error {
	res, err := tx.ExecContext(ctx, `UPDATE threads SET summarized = TRUE WHERE room_id = $1 AND root_id = $2 AND NOT summarized`,
		p.RoomID, p.EventID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // gone, or summarized already
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM thread_senders WHERE root_id = $1 AND room_id = $2`, p.EventID, p.RoomID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO thread_senders (root_id, room_id, sender, reply_count, latest_event_id, latest_pos)
		SELECT relates_to_id, room_id, sender, COUNT(*), '', MAX(stream_pos) FROM event_relations
		WHERE relates_to_id = $1 AND rel_type = $2 AND room_id = $3 GROUP BY relates_to_id, room_id, sender`,
		p.EventID, event.RelThread, p.RoomID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE thread_senders SET latest_event_id = COALESCE((SELECT r.event_id FROM event_relations r
			WHERE r.relates_to_id = thread_senders.root_id AND r.sender = thread_senders.sender
			AND r.stream_pos = thread_senders.latest_pos AND r.rel_type = $3 AND r.room_id = thread_senders.room_id LIMIT 1), '')
		WHERE root_id = $1 AND room_id = $2`, p.EventID, p.RoomID, event.RelThread); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE threads SET reply_count = (SELECT COALESCE(SUM(reply_count), 0) FROM thread_senders
		WHERE root_id = $2 AND room_id = $1) WHERE room_id = $1 AND root_id = $2`, p.RoomID, p.EventID)
	return err
}

// summaryRow is a thread's or a (thread, sender)'s counts.
type summaryRow struct {
	p          Parent
	sender     string
	count      int
	latestID   string
	latestPos  int64
	summarized bool
}

// ThreadSummaries returns the thread summaries of those of roots that
// have replies, counting only replies from senders not in skipSenders.
// reader's replies set Participated. Each thread costs a few rows,
// whatever its size: its threads row, and the thread_senders rows of the
// reader and of skipSenders.
func (s *Store) ThreadSummaries(ctx context.Context, roots []Parent, reader string, skipSenders []string) (map[Parent]*ThreadSummary, error) {
	out := map[Parent]*ThreadSummary{}
	want := make(map[Parent]bool, len(roots))
	ids := make([]string, 0, len(roots))
	for _, p := range roots {
		if !want[p] {
			want[p] = true
			ids = append(ids, p.EventID)
		}
	}
	var unsummarized []string
	latest := map[Parent]int64{}
	err := forChunks(ids, func(chunk []string) error {
		args, in := inArgs(nil, chunk)
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, root_id, reply_count, latest_event_id, latest_pos, summarized
			FROM threads WHERE root_id IN (`+in[0]+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r summaryRow
			if err := rows.Scan(&r.p.RoomID, &r.p.EventID, &r.count, &r.latestID, &r.latestPos, &r.summarized); err != nil {
				return err
			}
			switch {
			case !want[r.p]:
			case !r.summarized:
				unsummarized = append(unsummarized, r.p.EventID)
			default:
				out[r.p] = &ThreadSummary{Count: r.count, LatestEventID: r.latestID}
				latest[r.p] = r.latestPos
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(unsummarized) > 0 {
		if err := s.countedSummaries(ctx, unsummarized, want, reader, skipSenders, out); err != nil {
			return nil, err
		}
	}
	if len(latest) == 0 {
		return out, nil
	}
	// The reader's and the skipped senders' rows of the summarized threads.
	summarized := make([]string, 0, len(latest))
	for p := range latest {
		summarized = append(summarized, p.EventID)
	}
	skip := make(map[string]bool, len(skipSenders))
	for _, u := range skipSenders {
		skip[u] = true
	}
	senders := append([]string{reader}, skipSenders...)
	latestSkipped := map[Parent]bool{}
	err = forChunks(summarized, func(chunk []string) error {
		rs, err := s.senderRows(ctx, chunk, senders, false)
		for _, r := range rs {
			ts := out[r.p]
			switch {
			case ts == nil:
			case skip[r.sender]:
				ts.Count -= r.count
				if r.latestID == ts.LatestEventID {
					latestSkipped[r.p] = true
				}
			case r.sender == reader:
				ts.Participated = true
			}
		}
		return err
	})
	if err != nil || len(latestSkipped) == 0 {
		return out, err
	}
	// Threads whose latest reply came from a skipped sender: the latest of
	// the other senders' latest replies (rare; a row per sender).
	var again []string
	for p := range latestSkipped {
		out[p].LatestEventID = ""
		again = append(again, p.EventID)
	}
	err = forChunks(again, func(chunk []string) error {
		rs, err := s.senderRows(ctx, chunk, skipSenders, true)
		for _, r := range rs {
			if ts := out[r.p]; ts != nil && latestSkipped[r.p] && (ts.LatestEventID == "" || r.latestPos > latest[r.p]) {
				ts.LatestEventID, latest[r.p] = r.latestID, r.latestPos
			}
		}
		return err
	})
	for p := range latestSkipped {
		if ts := out[p]; ts.Count <= 0 || ts.LatestEventID == "" {
			delete(out, p)
		}
	}
	return out, err
}

// senderRows reads the thread_senders rows of roots whose sender is in
// senders, or, with others, not in it.
func (s *Store) senderRows(ctx context.Context, roots, senders []string, others bool) ([]summaryRow, error) {
	args, in := inArgs(nil, roots, senders)
	where := ``
	switch {
	case others && in[1] != "":
		where = ` AND sender NOT IN (` + in[1] + `)`
	case !others:
		where = ` AND sender IN (` + in[1] + `)`
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT root_id, room_id, sender, reply_count, latest_event_id, latest_pos
		FROM thread_senders WHERE root_id IN (`+in[0]+`)`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []summaryRow
	for rows.Next() {
		var r summaryRow
		if err := rows.Scan(&r.p.EventID, &r.p.RoomID, &r.sender, &r.count, &r.latestID, &r.latestPos); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// countedSummaries adds to out the summaries of threads not summarized
// yet, counted from their replies' index entries (linear in the replies).
func (s *Store) countedSummaries(ctx context.Context, ids []string, want map[Parent]bool, reader string, skipSenders []string, out map[Parent]*ThreadSummary) error {
	latest := map[Parent]int64{}
	err := forChunks(ids, func(chunk []string) error {
		args, in := inArgs([]any{reader, event.RelThread}, chunk, skipSenders)
		rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, relates_to_id, COUNT(*), MAX(stream_pos),
				MAX(CASE WHEN sender = $1 THEN 1 ELSE 0 END)
			FROM event_relations
			WHERE rel_type = $2 AND relates_to_id IN (`+in[0]+`)`+notIn(in[1])+`
			GROUP BY room_id, relates_to_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p Parent
			var n, part int
			var pos int64
			if err := rows.Scan(&p.RoomID, &p.EventID, &n, &pos, &part); err != nil {
				return err
			}
			if want[p] {
				out[p] = &ThreadSummary{Count: n, Participated: part == 1}
				latest[p] = pos
			}
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	for p, pos := range latest {
		var id string
		err := s.db.Read.QueryRowContext(ctx, `SELECT event_id FROM event_relations
			WHERE relates_to_id = $1 AND rel_type = $2 AND stream_pos = $3 AND room_id = $4`,
			p.EventID, event.RelThread, pos, p.RoomID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			delete(out, p)
			continue
		}
		if err != nil {
			return err
		}
		out[p].LatestEventID = id
	}
	return nil
}
