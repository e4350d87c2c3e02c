package roomstore

import (
	"context"
	"database/sql"
	"errors"
)

// ErrOutboxPending is PurgeRoom's answer while some of the room's events
// still wait in the federation outbox: purging them would lose events that
// other servers must receive (the leaves of a room being deleted, say).
// The federation sender clears them within moments; try again.
var ErrOutboxPending = errors.New("roomstore: the room's events are still waiting for the federation sender")

// PurgeRoom removes every trace of a room from the rooms storage: events,
// state, memberships, extremities, aliases, directory listings, transactions and the room
// itself. Only a block on the room stays, so that it cannot come back.
// The indexers (AddIndexer) forget the room in the same transaction. The
// caller makes sure nothing writes to the room meanwhile (the room's actor
// runs it) and purges the other domains' data itself.
func (s *Store) PurgeRoom(ctx context.Context, roomID string) error {
	var users []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_outbox o JOIN events e ON e.event_id = o.event_id
			WHERE e.room_id = $1`, roomID).Scan(&pending); err != nil {
			return err
		}
		if pending > 0 {
			return ErrOutboxPending
		}
		users = users[:0]
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT user_id FROM membership_log WHERE room_id = $1`, roomID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM state_snapshot_entries WHERE snapshot_id IN (SELECT snapshot_id FROM state_snapshots WHERE room_id = $1)`,
			`DELETE FROM state_snapshots WHERE room_id = $1`,
			`DELETE FROM client_txns WHERE room_id = $1`,
			`DELETE FROM events WHERE room_id = $1`,
			`DELETE FROM current_state WHERE room_id = $1`,
			`DELETE FROM membership_log WHERE room_id = $1`,
			`DELETE FROM forward_extremities WHERE room_id = $1`,
			`DELETE FROM room_aliases WHERE room_id = $1`,
			`DELETE FROM appservice_room_list WHERE room_id = $1`,
			`DELETE FROM forgotten_rooms WHERE room_id = $1`,
			`DELETE FROM pending_redactions WHERE room_id = $1`,
			`DELETE FROM rooms WHERE room_id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, roomID); err != nil {
				return err
			}
		}
		// The indexes derived from the events (relations, search) go in
		// the same commit: a crash cannot leave their rows behind with no
		// room to purge them by.
		for _, ix := range s.indexers {
			if err := ix.PurgeRoomIndex(ctx, tx, roomID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Caches: the room's events and snapshots can no longer be asked for
	// (their IDs are gone with the room), but the room's members' cached
	// membership lists still name it.
	s.members.forget(users)
	s.events.forgetRoom(roomID)
	s.snapMu.Lock()
	delete(s.versions, roomID)
	s.snapMu.Unlock()
	return nil
}
