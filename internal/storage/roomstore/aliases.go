package roomstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// CreateAlias maps alias to roomID; an existing alias gives a merr conflict
// error (M_UNKNOWN 409 in the client API).
func (s *Store) CreateAlias(ctx context.Context, alias, roomID, creator string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3)`, alias, roomID, creator)
	if sqldb.IsUniqueViolation(err) {
		return merr.New(merr.ErrConflict, merr.CodeUnknown, "room alias already exists")
	}
	return err
}

// Alias resolves an alias to its room and creator, or a not-found error.
func (s *Store) Alias(ctx context.Context, alias string) (roomID, creator string, err error) {
	err = s.db.Read.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID, &creator)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", merr.NotFound("room alias not found")
	}
	return roomID, creator, err
}

// DeleteAlias removes an alias; removing an unknown alias is a not-found error.
func (s *Store) DeleteAlias(ctx context.Context, alias string) error {
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias = $1`, alias)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return merr.NotFound("room alias not found")
	}
	return nil
}

// MoveAliases points every local alias of one room at another (a room
// upgrade), keeping their creators.
func (s *Store) MoveAliases(ctx context.Context, fromRoom, toRoom string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE room_aliases SET room_id = $1 WHERE room_id = $2`, toRoom, fromRoom)
	return err
}

// AliasesForRoom lists a room's local aliases.
func (s *Store) AliasesForRoom(ctx context.Context, roomID string) ([]string, error) {
	return s.strings(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, roomID)
}

// DirectoryList names one list of the published room directory: the main
// list (the zero value), one application service's list for one of its
// networks, or every list at once (All).
type DirectoryList struct {
	All                     bool
	AppserviceID, NetworkID string
}

// PublicRooms lists the rooms published in a list of the directory.
func (s *Store) PublicRooms(ctx context.Context, list DirectoryList) ([]string, error) {
	switch {
	case list.All:
		return s.strings(ctx, `SELECT room_id FROM rooms WHERE is_public
			UNION SELECT room_id FROM appservice_room_list ORDER BY room_id`)
	case list.AppserviceID != "":
		return s.strings(ctx, `SELECT room_id FROM appservice_room_list WHERE appservice_id = $1 AND network_id = $2
			ORDER BY room_id`, list.AppserviceID, list.NetworkID)
	}
	return s.strings(ctx, `SELECT room_id FROM rooms WHERE is_public ORDER BY room_id`)
}

// SetPublicInNetwork publishes a room in, or removes it from, an
// application service's list for one network. Either is idempotent.
func (s *Store) SetPublicInNetwork(ctx context.Context, appserviceID, networkID, roomID string, public bool) error {
	q := `DELETE FROM appservice_room_list WHERE appservice_id = $1 AND network_id = $2 AND room_id = $3`
	if public {
		q = `INSERT INTO appservice_room_list (appservice_id, network_id, room_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	}
	_, err := s.db.Write.ExecContext(ctx, q, appserviceID, networkID, roomID)
	return err
}

// SetPublic publishes or unpublishes a room outside a batch.
func (s *Store) SetPublic(ctx context.Context, roomID string, public bool) error {
	return s.Write(ctx, func(w *Writer) error { return w.SetPublic(roomID, public) })
}

// Forget records that the user forgot a room they left; its history is no
// longer offered to them (sync leaves it out).
func (s *Store) Forget(ctx context.Context, userID, roomID string) error {
	_, err := s.db.Write.ExecContext(ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, roomID)
	return err
}

// Forgotten reports whether the user forgot the room.
func (s *Store) Forgotten(ctx context.Context, userID, roomID string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, userID, roomID).Scan(&n)
	return n > 0, err
}

// AllRooms returns the IDs of every room the server holds, in ID order
// (for the admin API's room list).
func (s *Store) AllRooms(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT room_id FROM rooms ORDER BY room_id`)
}
