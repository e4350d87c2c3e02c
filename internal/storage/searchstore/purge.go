package searchstore

import (
	"context"
	"database/sql"
)

// PurgeRoom removes a deleted room's events from the index (an admin's
// room deletion; admin.RoomPurger). Each goes the way a redaction takes it
// out, so the full-text table stays in step on both engines.
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
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
		for _, id := range ids {
			if err := s.en.remove(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeEvents removes events a history purge removed from the index
// (admin.HistoryPurger).
func (s *Store) PurgeEvents(ctx context.Context, _ string, eventIDs []string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, id := range eventIDs {
			if err := s.en.remove(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
