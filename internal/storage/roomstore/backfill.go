package roomstore

import (
	"context"
	"database/sql"
)

// Backfilled events get negative stream positions, below every event
// already held, so that they sort before the room's known timeline in
// /messages without disturbing the positive positions /sync counts in. A
// later backfill of the same room reaches further back, so giving each
// batch positions below the previous one keeps each room's order.

// MinStreamPos is the lowest stream position persisted, or 0 when none is
// negative.
func (s *Store) MinStreamPos(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MIN(stream_pos) FROM events`).Scan(&n)
	if n.Int64 > 0 {
		return 0, err
	}
	return n.Int64, err
}

// OldestEvents returns up to limit of the room's earliest timeline events
// (not outliers, not rejected), oldest first: their prev events that we
// lack are where backfill starts.
func (s *Store) OldestEvents(ctx context.Context, roomID string, limit int) ([]*StoredEvent, error) {
	return s.queryEvents(ctx, `SELECT `+eventCols+` FROM events
		WHERE room_id = $1 AND stream_pos IS NOT NULL AND NOT rejected
		ORDER BY stream_pos ASC LIMIT $2`, roomID, limit)
}
