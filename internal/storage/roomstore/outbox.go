package roomstore

import (
	"context"
	"strconv"
	"strings"
)

// OutboxEntry is a committed local event not yet known to be queued for
// other servers.
type OutboxEntry struct {
	StreamPos int64
	EventID   string
}

// Outbox lists up to limit outbox entries, oldest first.
func (s *Store) Outbox(ctx context.Context, limit int) ([]OutboxEntry, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream_pos, event_id FROM federation_outbox ORDER BY stream_pos LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		if err := rows.Scan(&e.StreamPos, &e.EventID); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ClearOutbox removes the entries at the given stream positions (positions
// without an entry are ignored).
func (s *Store) ClearOutbox(ctx context.Context, positions []int64) error {
	const chunk = 500
	for len(positions) > 0 {
		n := min(len(positions), chunk)
		// Positions are integers we produced, so they are written inline:
		// one statement for the chunk on both dialects.
		var b strings.Builder
		b.WriteString(`DELETE FROM federation_outbox WHERE stream_pos IN (`)
		for i, p := range positions[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(p, 10))
		}
		b.WriteByte(')')
		if _, err := s.db.Write.ExecContext(ctx, b.String()); err != nil {
			return err
		}
		positions = positions[n:]
	}
	return nil
}
