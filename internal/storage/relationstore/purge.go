package relationstore

import (
	"context"
	"database/sql"
)

// PurgeRoom removes a deleted room's relations and threads (an admin's
// room deletion; admin.RoomPurger).
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM event_relations WHERE room_id = $1`, `DELETE FROM threads WHERE room_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		return nil
	})
}
