package roomstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// MembershipChanges returns the membership events with stream positions
// in (from, to], in order, at most limit of them; more reports that there
// were more. The memberships of a room's state when we joined it over
// federation are not among them (see JoinedRooms in package rooms).
func (s *Store) MembershipChanges(ctx context.Context, from, to int64, limit int) (changes []Membership, more bool, err error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, user_id, membership, event_id, stream_pos FROM membership_log
		WHERE stream_pos > $1 AND stream_pos <= $2 ORDER BY stream_pos LIMIT $3`, from, to, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.RoomID, &m.UserID, &m.Membership, &m.EventID, &m.StreamPos); err != nil {
			return nil, false, err
		}
		changes = append(changes, m)
	}
	if len(changes) > limit {
		return changes[:limit], true, rows.Err()
	}
	return changes, false, rows.Err()
}

// sharingBatch bounds the user IDs of one SharingRoom query.
const sharingBatch = 500

// SharingRoom returns which of others are joined to a room that userID is
// joined to now (current state).
func (s *Store) SharingRoom(ctx context.Context, userID string, others []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(others) > 0 {
		n := min(len(others), sharingBatch)
		args := []any{userID}
		for _, o := range others[:n] {
			args = append(args, o)
		}
		if err := s.collectUsers(ctx, out, `SELECT DISTINCT b.state_key FROM current_state a
			JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
			WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
			AND b.state_key IN (`+sqldb.Placeholders(2, n)+`)`, args...); err != nil {
			return nil, err
		}
		others = others[n:]
	}
	return out, nil
}

// UsersSharingRoom returns every user joined to a room that userID is
// joined to now, userID included when joined anywhere.
func (s *Store) UsersSharingRoom(ctx context.Context, userID string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.collectUsers(ctx, out, `SELECT DISTINCT b.state_key FROM current_state a
		JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'`, userID)
	return out, err
}

func (s *Store) collectUsers(ctx context.Context, into map[string]bool, q string, args ...any) error {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		into[u] = true
	}
	return rows.Err()
}

// SharesRoomWithServer reports whether userID is joined to a room that a
// user of serverName is joined to now. SQLite's LIKE ignores ASCII case,
// so there a server name differing only in case also counts; server
// names are DNS names or IP literals, compared case-insensitively anyway.
func (s *Store) SharesRoomWithServer(ctx context.Context, userID, serverName string) (bool, error) {
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM current_state a
		JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
		AND b.state_key LIKE $2 ESCAPE '!' LIMIT 1`, userID, "%:"+sqldb.EscapeLike(serverName)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// RoomWithServer is a room a server's users are joined to, with the
// position of its latest event at or below a bound.
type RoomWithServer struct {
	RoomID    string
	StreamPos int64
}

// RoomsWithServer lists the rooms where a user of serverName is joined
// now, by room ID, each with its latest stream position not above upTo
// (0 if none): for the federation admin API, which reports how far each
// shared room has been delivered.
func (s *Store) RoomsWithServer(ctx context.Context, serverName string, upTo int64) ([]RoomWithServer, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT r.room_id,
		COALESCE((SELECT MAX(e.stream_pos) FROM events e WHERE e.room_id = r.room_id AND e.stream_pos <= $2), 0)
		FROM (SELECT DISTINCT room_id FROM current_state WHERE type = 'm.room.member' AND membership = 'join'
			AND state_key LIKE $1 ESCAPE '!') r ORDER BY r.room_id`, "%:"+sqldb.EscapeLike(serverName), upTo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoomWithServer
	for rows.Next() {
		var r RoomWithServer
		if err := rows.Scan(&r.RoomID, &r.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UsersSharingRoomExcept returns every user joined to a room other than
// exceptRoom that userID is joined to now: who shared a room with userID
// before they joined exceptRoom.
func (s *Store) UsersSharingRoomExcept(ctx context.Context, userID, exceptRoom string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.collectUsers(ctx, out, `SELECT DISTINCT b.state_key FROM current_state a
		JOIN current_state b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join' AND a.room_id <> $2`, userID, exceptRoom)
	return out, err
}

// PrevMembership returns the user's membership in the room before stream
// position pos ("" for none): whether a join at pos is a new join or a
// change of profile.
func (s *Store) PrevMembership(ctx context.Context, roomID, userID string, pos int64) (string, error) {
	var m string
	err := s.db.Read.QueryRowContext(ctx, `SELECT membership FROM membership_log
		WHERE user_id = $1 AND room_id = $2 AND stream_pos < $3 ORDER BY stream_pos DESC LIMIT 1`, userID, roomID, pos).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return m, err
}
