package keybackupstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/myelin-chat/myelin/internal/merr"
)

// SessionKey is one backed-up session key (definitions/key_backup_data.yaml)
// with the room and session it is for.
type SessionKey struct {
	RoomID, SessionID string
	FirstMessageIndex int64
	ForwardedCount    int64
	IsVerified        bool
	// SessionData is the encrypted key, as the client uploaded it.
	SessionData json.RawMessage
}

// Put is one upload of session keys.
type Put struct {
	Keys []SessionKey
	// Replaces reports whether key should replace old, a stored key for
	// the same session.
	Replaces func(key, old SessionKey) bool
	// MaxKeys bounds the keys stored in one version.
	MaxKeys int
}

// ErrTooManyKeys: the upload would store more keys in the version than
// allowed.
var ErrTooManyKeys = merr.BadRequest(merr.CodeResourceLimitExceeded, "this backup version holds too many keys")

// PutKeys stores keys in the user's current backup version, which version
// must name, and returns the version's etag and key count after it. A
// version that is live but not current is refused with
// M_WRONG_ROOM_KEYS_VERSION and the current version (key_backup.yaml: keys
// are only written to the most recent version); one that is not live is
// ErrNoVersion. The etag changes only when a key was stored.
func (s *Store) PutKeys(ctx context.Context, userID, version string, put Put) (etag string, count int, err error) {
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		var current int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM key_backup_versions WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`,
			userID).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoVersion
		} else if err != nil {
			return err
		}
		if version != formatVersion(current) {
			if _, err := getVersion(ctx, tx, userID, version); err != nil {
				return err
			}
			return WrongVersion(formatVersion(current))
		}
		changed := false
		for _, k := range put.Keys {
			stored, err := putKey(ctx, tx, userID, current, k, put.Replaces)
			if err != nil {
				return err
			}
			changed = changed || stored
		}
		var e int64
		if changed {
			err = tx.QueryRowContext(ctx, `UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2 RETURNING etag`,
				userID, current).Scan(&e)
		} else {
			err = tx.QueryRowContext(ctx, `SELECT etag FROM key_backup_versions WHERE user_id = $1 AND version = $2`, userID, current).Scan(&e)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2`,
			userID, current).Scan(&count); err != nil {
			return err
		}
		if count > put.MaxKeys {
			return ErrTooManyKeys
		}
		etag = strconv.FormatInt(e, 10)
		return nil
	})
	return etag, count, err
}

// WrongVersion is the error for a write to a backup version that is not
// the current one (key_backup.yaml: 403 with current_version).
func WrongVersion(current string) error {
	return &merr.Error{Kind: merr.ErrForbidden, Code: merr.CodeWrongRoomKeysVersion, Message: "Wrong backup version.",
		Extra: map[string]any{"current_version": current}}
}

// putKey stores k unless a stored key for its session should be kept, and
// reports whether it stored it.
func putKey(ctx context.Context, tx *sql.Tx, userID string, version int64, k SessionKey, replaces func(k, old SessionKey) bool) (bool, error) {
	old := SessionKey{RoomID: k.RoomID, SessionID: k.SessionID}
	var data string
	err := tx.QueryRowContext(ctx, `SELECT first_message_index, forwarded_count, is_verified, session_data FROM key_backup_keys
		WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`, userID, version, k.RoomID, k.SessionID).
		Scan(&old.FirstMessageIndex, &old.ForwardedCount, &old.IsVerified, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO key_backup_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			userID, version, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
		return err == nil, err
	case err != nil:
		return false, err
	}
	old.SessionData = json.RawMessage(data)
	if !replaces(k, old) {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE key_backup_keys SET first_message_index = $5, forwarded_count = $6, is_verified = $7, session_data = $8
		WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`,
		userID, version, k.RoomID, k.SessionID, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
	return err == nil, err
}

// Keys returns the keys of a live version: all of them, a room's (roomID
// set) or one session's (sessionID set too), ordered by room and session.
// ErrNoVersion when the version is not live.
func (s *Store) Keys(ctx context.Context, userID, version, roomID, sessionID string) ([]SessionKey, error) {
	var out []SessionKey
	err := s.db.WithReadTx(ctx, func(tx *sql.Tx) error {
		v, err := getVersion(ctx, tx, userID, version)
		if err != nil {
			return err
		}
		n, _ := parseVersion(v.Version)
		where, args := scope(userID, n, roomID, sessionID)
		rows, err := tx.QueryContext(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
			FROM key_backup_keys WHERE `+where+` ORDER BY room_id, session_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k SessionKey
			var data string
			if err := rows.Scan(&k.RoomID, &k.SessionID, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
				return err
			}
			k.SessionData = json.RawMessage(data)
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, err
}

// DeleteKeys deletes keys of a live version (all, a room's or one
// session's, as for Keys) and returns the version's etag and count after
// it. The etag changes when a key was deleted.
func (s *Store) DeleteKeys(ctx context.Context, userID, version, roomID, sessionID string) (etag string, count int, err error) {
	n, ok := parseVersion(version)
	if !ok {
		return "", 0, ErrNoVersion
	}
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := getVersion(ctx, tx, userID, version); err != nil {
			return err
		}
		where, args := scope(userID, n, roomID, sessionID)
		res, err := tx.ExecContext(ctx, `DELETE FROM key_backup_keys WHERE `+where, args...)
		if err != nil {
			return err
		}
		deleted, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if deleted > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE key_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, userID, n); err != nil {
				return err
			}
		}
		v, err := getVersion(ctx, tx, userID, version)
		if err != nil {
			return err
		}
		etag, count = v.Etag, v.Count
		return nil
	})
	return etag, count, err
}

// scope is the WHERE clause and arguments selecting a version's keys: all,
// a room's (roomID set) or one session's (sessionID set too).
func scope(userID string, version int64, roomID, sessionID string) (string, []any) {
	where, args := `user_id = $1 AND version = $2`, []any{userID, version}
	if roomID != "" {
		where += ` AND room_id = $3`
		args = append(args, roomID)
		if sessionID != "" {
			where += ` AND session_id = $4`
			args = append(args, sessionID)
		}
	}
	return where, args
}
