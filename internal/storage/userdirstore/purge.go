package userdirstore

import (
	"context"
	"database/sql"
)

// PurgeRoom forgets a deleted room and its members (an admin's room
// deletion; admin.RoomPurger); remote users no other room lists leave the
// directory, as when they leave their last room.
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	const orphans = `SELECT user_id FROM userdir_users WHERE NOT is_local AND user_id NOT IN (SELECT user_id FROM userdir_members)`
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM userdir_members WHERE room_id = $1`,
			`DELETE FROM userdir_rooms WHERE room_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM userdir_words WHERE user_id IN (` + orphans + `)`,
			`DELETE FROM userdir_users WHERE NOT is_local AND user_id NOT IN (SELECT user_id FROM userdir_members)`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}
