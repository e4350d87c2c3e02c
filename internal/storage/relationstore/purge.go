package relationstore

import (
	"context"
	"database/sql"
)

// PurgeRoom removes a deleted room's relations and threads (an admin's
// room deletion; admin.RoomPurger).
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM event_relations WHERE room_id = $1`, `DELETE FROM threads WHERE room_id = $1`,
			`DELETE FROM thread_senders WHERE room_id = $1`, `DELETE FROM event_ancestors WHERE room_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeEvents forgets the relations of events a history purge removed
// (admin.HistoryPurger): each goes as a redacted one does, and a thread
// whose root went leaves the thread list.
func (s *Store) PurgeEvents(ctx context.Context, roomID string, eventIDs []string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, id := range eventIDs {
			if err := s.UnindexEvent(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM threads WHERE room_id = $1 AND root_id = $2`, roomID, id); err != nil {
				return err
			}
		}
		return nil
	})
}
