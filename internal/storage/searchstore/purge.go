package searchstore

import (
	"context"
	"database/sql"
)

// PurgeRoomIndex removes a deleted room's events from the index, in the
// transaction that purges them (roomstore.Indexer). Each goes the way a
// redaction takes it out, so the full-text table stays in step on both
// engines.
func (s *Store) PurgeRoomIndex(ctx context.Context, tx *sql.Tx, roomID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT event_id FROM search_events WHERE room_id = $1`, roomID)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return s.PurgeEventsIndex(ctx, tx, roomID, ids)
}

// PurgeEventsIndex removes events a history purge removed from the index,
// in its transaction (roomstore.Indexer).
func (s *Store) PurgeEventsIndex(ctx context.Context, tx *sql.Tx, _ string, eventIDs []string) error {
	for _, id := range eventIDs {
		if err := s.en.remove(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}
