package e2eestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// DeviceListChange is one row of the device-list stream.
type DeviceListChange struct {
	Pos    int64 // position in the device-list stream, reserved by the caller
	UserID string
	// DeviceID is the changed device; empty for a change of the user's
	// keys as a whole.
	DeviceID string
	// Chained asks for PrevPos: the change is sent to other servers as
	// an m.device_list_update whose prev_id is the user's previous
	// chained change.
	Chained bool
	// PrevPos is filled in by AddDeviceListChanges for chained changes
	// (0: the user's first).
	PrevPos int64
}

// MaxDeviceListPos is the highest device-list position stored, 0 for none.
func (s *Store) MaxDeviceListPos(ctx context.Context) (int64, error) {
	var top sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(pos) FROM e2ee_device_list_changes`).Scan(&top)
	return top.Int64, err
}

// AddDeviceListChanges stores changes in one transaction and fills in the
// PrevPos of chained ones: each links to the user's latest chained change
// before it, so the EDUs of one user form the chain the spec asks for
// (server-server-api "Device Management"). Each change replaces the older
// rows of its (user, device), as Synapse keeps its device_lists_stream:
// the table holds one row per pair that ever changed, and the new row
// keeps the earliest position of those it replaced (first_pos), so
// UsersWithDeviceListChanges still finds the pair changed after a token
// older than the deleted rows.
func (s *Store) AddDeviceListChanges(ctx context.Context, changes []DeviceListChange) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for i := range changes {
			c := &changes[i]
			if c.Chained {
				var prev sql.NullInt64
				if err := tx.QueryRowContext(ctx, `SELECT MAX(pos) FROM e2ee_device_list_changes WHERE user_id = $1 AND device_id <> '' AND pos < $2`,
					c.UserID, c.Pos).Scan(&prev); err != nil {
					return err
				}
				c.PrevPos = prev.Int64
			}
			// A change no other server is told of (another server's
			// user's) only tells local syncs that the user changed: it
			// is kept under the user's device '' row, so such a user
			// has one row however many device IDs they go through.
			deviceID := c.DeviceID
			if !c.Chained {
				deviceID = ""
			}
			first := c.Pos
			var older sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT MIN(first_pos) FROM e2ee_device_list_changes WHERE user_id = $1 AND device_id = $2 AND pos < $3`,
				c.UserID, deviceID, c.Pos).Scan(&older); err != nil {
				return err
			}
			if older.Valid {
				first = min(first, older.Int64)
				if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_device_list_changes WHERE user_id = $1 AND device_id = $2 AND pos < $3`,
					c.UserID, deviceID, c.Pos); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_device_list_changes (pos, user_id, device_id, prev_pos, first_pos) VALUES ($1, $2, $3, $4, $5)`,
				c.Pos, c.UserID, deviceID, c.PrevPos, first); err != nil {
				return err
			}
		}
		return nil
	})
}

// FoldDeviceListChanges bounds a local user's rows by their devices: the
// rows of devices not in keep (deleted ones) are folded into the user's
// device ” row, which then stands for their span of positions too
// ([the least first_pos, the greatest pos]), so UsersWithDeviceListChanges
// answers every token as before. The user's latest chained row stays
// whatever its device, since the next change's prev_pos and
// LatestChainedChange read it. It returns how many rows went; folding
// again is a no-op.
func (s *Store) FoldDeviceListChanges(ctx context.Context, userID string, keep []string) (int, error) {
	folded := 0
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		folded = 0
		rows, err := tx.QueryContext(ctx, `SELECT pos, device_id, first_pos FROM e2ee_device_list_changes
			WHERE user_id = $1 AND device_id <> '' AND pos < (SELECT MAX(pos) FROM e2ee_device_list_changes
				WHERE user_id = $1 AND device_id <> '')`, userID)
		if err != nil {
			return err
		}
		var gone []int64
		lo, hi := int64(-1), int64(-1)
		for rows.Next() {
			var (
				pos, first int64
				device     string
			)
			if err := rows.Scan(&pos, &device, &first); err != nil {
				rows.Close()
				return err
			}
			if slices.Contains(keep, device) {
				continue
			}
			gone = append(gone, pos)
			if lo < 0 || first < lo {
				lo = first
			}
			hi = max(hi, pos)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(gone) == 0 {
			return err
		}
		folded = len(gone)
		var curPos, curFirst int64
		err = tx.QueryRowContext(ctx, `SELECT pos, first_pos FROM e2ee_device_list_changes WHERE user_id = $1 AND device_id = ''`,
			userID).Scan(&curPos, &curFirst)
		switch {
		case err == nil:
			lo, hi = min(lo, curFirst), max(hi, curPos)
			gone = append(gone, curPos)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		for _, pos := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_device_list_changes WHERE pos = $1`, pos); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_device_list_changes (pos, user_id, device_id, prev_pos, first_pos) VALUES ($1, $2, '', 0, $3)`,
			hi, userID, lo); err != nil {
			return err
		}
		return nil
	})
	return folded, err
}

// UsersWithDeviceListChanges returns the users with changes at positions
// in (from, to], at most limit of them; more reports that there were
// more. Since older rows are replaced (AddDeviceListChanges), a row counts
// when the span of positions it stands for, [first_pos, pos], meets
// (from, to]: a superset, never missing a change, so that tokens of any
// age keep working. A user is extra only when every change of theirs in
// the span fell outside (from, to]; clients then query them again.
func (s *Store) UsersWithDeviceListChanges(ctx context.Context, from, to int64, limit int) (users []string, more bool, err error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT DISTINCT user_id FROM e2ee_device_list_changes WHERE pos > $1 AND first_pos <= $2 LIMIT $3`,
		from, to, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, false, err
		}
		users = append(users, u)
	}
	if len(users) > limit {
		return users[:limit], true, rows.Err()
	}
	return users, false, rows.Err()
}

// LatestChainedChange is the position of the user's latest chained change
// (the stream_id of /user/devices), 0 for none.
func (s *Store) LatestChainedChange(ctx context.Context, userID string) (int64, error) {
	var top sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(pos) FROM e2ee_device_list_changes WHERE user_id = $1 AND device_id <> ''`,
		userID).Scan(&top)
	return top.Int64, err
}

// RemoteDevice is one device of another server's user, as cached.
type RemoteDevice struct {
	DeviceID, DisplayName string
	Keys                  json.RawMessage // nil before the device uploaded keys
}

// RemoteDeviceList is another server's user's cached device list.
type RemoteDeviceList struct {
	StreamID int64
	Stale    bool
	Devices  []RemoteDevice // sorted by device ID
}

// RemoteDeviceList returns the cached list of userID, or nil when none is
// cached.
func (s *Store) RemoteDeviceList(ctx context.Context, userID string) (*RemoteDeviceList, error) {
	var l RemoteDeviceList
	err := s.db.Read.QueryRowContext(ctx, `SELECT stream_id, stale FROM e2ee_remote_device_lists WHERE user_id = $1`, userID).Scan(&l.StreamID, &l.Stale)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT device_id, display_name, key_json FROM e2ee_remote_devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d RemoteDevice
		var kj string
		if err := rows.Scan(&d.DeviceID, &d.DisplayName, &kj); err != nil {
			return nil, err
		}
		if kj != "" {
			d.Keys = json.RawMessage(kj)
		}
		l.Devices = append(l.Devices, d)
	}
	return &l, rows.Err()
}

// ReplaceRemoteDeviceList caches a whole device list (a /user/devices
// answer), replacing what was cached.
func (s *Store) ReplaceRemoteDeviceList(ctx context.Context, userID string, streamID int64, devices []RemoteDevice) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_remote_devices WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, d := range devices {
			if err := putRemoteDevice(ctx, tx, userID, d); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO e2ee_remote_device_lists (user_id, stream_id, stale) VALUES ($1, $2, FALSE)
			ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id, stale = FALSE`, userID, streamID)
		return err
	})
}

func putRemoteDevice(ctx context.Context, tx *sql.Tx, userID string, d RemoteDevice) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO e2ee_remote_devices (user_id, device_id, display_name, key_json) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id) DO UPDATE SET display_name = excluded.display_name, key_json = excluded.key_json`,
		userID, d.DeviceID, d.DisplayName, string(d.Keys))
	return err
}

// RemoteUpdate is one received m.device_list_update.
type RemoteUpdate struct {
	UserID   string
	StreamID int64
	PrevIDs  []int64
	Device   RemoteDevice
	Deleted  bool
}

// Outcomes of ApplyRemoteUpdate.
const (
	// UpdateNotCached: no list of the user is cached; nothing to apply.
	UpdateNotCached = iota
	// UpdateApplied: the update was applied to the cached list.
	UpdateApplied
	// UpdateSeen: the update is not newer than the cached list.
	UpdateSeen
	// UpdateGap: an update the chain needs was missed (or the list was
	// already stale); the list is now marked stale and must be fetched.
	UpdateGap
)

// ApplyRemoteUpdate applies u to the cached list of its user when the
// list holds every update u builds on: each of its prev_ids is at or below
// the list's stream_id (what a resync returned covers everything before
// it). Otherwise the list is marked stale.
func (s *Store) ApplyRemoteUpdate(ctx context.Context, u RemoteUpdate) (int, error) {
	outcome := UpdateNotCached
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var streamID int64
		var stale bool
		err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT stream_id, stale FROM e2ee_remote_device_lists WHERE user_id = $1 {{for_update}}`),
			u.UserID).Scan(&streamID, &stale)
		if errors.Is(err, sql.ErrNoRows) {
			outcome = UpdateNotCached
			return nil
		}
		if err != nil {
			return err
		}
		if !stale && u.StreamID <= streamID {
			outcome = UpdateSeen
			return nil
		}
		complete := !stale
		for _, p := range u.PrevIDs {
			if p > streamID {
				complete = false
			}
		}
		if !complete {
			outcome = UpdateGap
			_, err := tx.ExecContext(ctx, `UPDATE e2ee_remote_device_lists SET stale = TRUE WHERE user_id = $1`, u.UserID)
			return err
		}
		outcome = UpdateApplied
		if u.Deleted {
			_, err = tx.ExecContext(ctx, `DELETE FROM e2ee_remote_devices WHERE user_id = $1 AND device_id = $2`, u.UserID, u.Device.DeviceID)
		} else {
			err = putRemoteDevice(ctx, tx, u.UserID, u.Device)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE e2ee_remote_device_lists SET stream_id = $2 WHERE user_id = $1`, u.UserID, u.StreamID)
		return err
	})
	return outcome, err
}

// MarkRemoteStale marks the cached list of userID (if any) as needing a
// fetch.
func (s *Store) MarkRemoteStale(ctx context.Context, userID string) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE e2ee_remote_device_lists SET stale = TRUE WHERE user_id = $1`, userID)
	return err
}

// LatestDeviceChanges returns, for each of the user's devices that has
// chained changes, the latest of them, in position order: what an
// m.device_list_update for each device carries now.
func (s *Store) LatestDeviceChanges(ctx context.Context, userID string) ([]DeviceListChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT c.pos, c.device_id, c.prev_pos FROM e2ee_device_list_changes c
		WHERE c.user_id = $1 AND c.device_id <> '' AND c.pos = (SELECT MAX(pos) FROM e2ee_device_list_changes d
			WHERE d.user_id = c.user_id AND d.device_id = c.device_id)
		ORDER BY c.pos`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeviceListChange
	for rows.Next() {
		c := DeviceListChange{UserID: userID, Chained: true}
		if err := rows.Scan(&c.Pos, &c.DeviceID, &c.PrevPos); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// staleBatch bounds the user IDs of one statement.
const staleBatch = 500

// CachedRemoteUsers returns which of userIDs have a cached device list
// that is not stale.
func (s *Store) CachedRemoteUsers(ctx context.Context, userIDs []string) ([]string, error) {
	var out []string
	for len(userIDs) > 0 {
		n := min(len(userIDs), staleBatch)
		args := make([]any, n)
		for i, u := range userIDs[:n] {
			args[i] = u
		}
		rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id FROM e2ee_remote_device_lists WHERE stale = FALSE AND user_id IN (`+
			sqldb.Placeholders(1, n)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, u)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		userIDs = userIDs[n:]
	}
	return out, nil
}
