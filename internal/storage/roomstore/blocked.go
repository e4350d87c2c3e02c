package roomstore

import (
	"context"
	"database/sql"
	"errors"
)

// BlockRoom records that a server admin blocked a room (it need not be a
// room the server holds), or with block false lifts the block.
func (s *Store) BlockRoom(ctx context.Context, roomID, adminID string, block bool) error {
	if !block {
		_, err := s.db.Write.ExecContext(ctx, `DELETE FROM blocked_rooms WHERE room_id = $1`, roomID)
		return err
	}
	_, err := s.db.Write.ExecContext(ctx, `
		INSERT INTO blocked_rooms (room_id, user_id) VALUES ($1, $2)
		ON CONFLICT (room_id) DO UPDATE SET user_id = excluded.user_id`, roomID, adminID)
	return err
}

// RoomBlockedBy returns the admin who blocked a room, "" if it is not
// blocked.
func (s *Store) RoomBlockedBy(ctx context.Context, roomID string) (string, error) {
	var by string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM blocked_rooms WHERE room_id = $1`, roomID).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return by, err
}
