package relationstore

import (
	"context"
	"database/sql"
)

// PurgeRoomIndex removes a deleted room's relations and threads, in the
// transaction that purges the room's events (roomstore.Indexer).
func (s *Store) PurgeRoomIndex(ctx context.Context, tx *sql.Tx, roomID string) error {
	for _, q := range []string{`DELETE FROM event_relations WHERE room_id = $1`, `DELETE FROM threads WHERE room_id = $1`,
		`DELETE FROM thread_senders WHERE room_id = $1`, `DELETE FROM event_ancestors WHERE room_id = $1`} {
		if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
			return err
		}
	}
	return nil
}

// PurgeEventsIndex forgets the relations of events a history purge
// removed, in its transaction (roomstore.Indexer): each goes as a redacted
// one does, and a thread whose root went leaves the thread list.
func (s *Store) PurgeEventsIndex(ctx context.Context, tx *sql.Tx, roomID string, eventIDs []string) error {
	for _, id := range eventIDs {
		if err := s.UnindexEvent(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM threads WHERE room_id = $1 AND root_id = $2`, roomID, id); err != nil {
			return err
		}
	}
	return nil
}
