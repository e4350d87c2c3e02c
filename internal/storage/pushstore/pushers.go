package pushstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Pusher is one of a user's pushers.
type Pusher struct {
	ID                int64
	UserID            string
	DeviceID          string
	Kind              string
	AppID             string
	PushKey           string
	AppDisplayName    string
	DeviceDisplayName string
	ProfileTag        string
	Lang              string
	// Data is the pusher's data object as JSON.
	Data      string
	CreatedTS int64
}

const pusherCols = `pusher_id, user_id, device_id, kind, app_id, pushkey, app_display_name,
	device_display_name, profile_tag, lang, data, created_ts`

// SetPusher adds p or replaces the user's pusher with the same app_id and
// pushkey. Unless appendOthers, every other user's pusher with the same
// app_id and pushkey is removed (client-server-api "POST /pushers/set",
// append). A replaced pusher keeps its ID, and so its queued pushes.
func (s *Store) SetPusher(ctx context.Context, p Pusher, appendOthers bool) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if !appendOthers {
		if err := deletePushers(ctx, tx, `app_id = $1 AND pushkey = $2 AND user_id <> $3`, p.AppID, p.PushKey, p.UserID); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, app_display_name,
		device_display_name, profile_tag, lang, data, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (app_id, pushkey, user_id) DO UPDATE SET device_id = excluded.device_id, kind = excluded.kind,
			app_display_name = excluded.app_display_name, device_display_name = excluded.device_display_name,
			profile_tag = excluded.profile_tag, lang = excluded.lang, data = excluded.data`,
		p.UserID, p.DeviceID, p.Kind, p.AppID, p.PushKey, p.AppDisplayName, p.DeviceDisplayName, p.ProfileTag,
		p.Lang, p.Data, p.CreatedTS); err != nil {
		return err
	}
	return tx.Commit()
}

// DeletePusher removes the user's pusher with this app_id and pushkey (none
// is not an error).
func (s *Store) DeletePusher(ctx context.Context, userID, appID, pushKey string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return deletePushers(ctx, tx, `user_id = $1 AND app_id = $2 AND pushkey = $3`, userID, appID, pushKey)
	})
}

// DeletePusherByID removes one pusher and its queued pushes.
func (s *Store) DeletePusherByID(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return deletePushers(ctx, tx, `pusher_id = $1`, id)
	})
}

// DeleteDevicePushers removes the pushers a device's access tokens created.
func (s *Store) DeleteDevicePushers(ctx context.Context, userID, deviceID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return deletePushers(ctx, tx, `user_id = $1 AND device_id = $2`, userID, deviceID)
	})
}

// DeleteUserPushers removes all of a user's pushers.
func (s *Store) DeleteUserPushers(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return deletePushers(ctx, tx, `user_id = $1`, userID)
	})
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.Write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// deletePushers removes the pushers matching where, and their jobs.
func deletePushers(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM push_jobs WHERE pusher_id IN (SELECT pusher_id FROM pushers WHERE `+where+`)`, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM pushers WHERE `+where, args...)
	return err
}

// Pushers returns a user's pushers, oldest first.
func (s *Store) Pushers(ctx context.Context, userID string) ([]Pusher, error) {
	return s.queryPushers(ctx, `SELECT `+pusherCols+` FROM pushers WHERE user_id = $1 ORDER BY pusher_id`, userID)
}

// Pusher returns one pusher, or ErrNotFound.
func (s *Store) Pusher(ctx context.Context, id int64) (*Pusher, error) {
	ps, err := s.queryPushers(ctx, `SELECT `+pusherCols+` FROM pushers WHERE pusher_id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, ErrNotFound
	}
	return &ps[0], nil
}

// PushersOfUsers returns the pushers of the given users, by user.
func (s *Store) PushersOfUsers(ctx context.Context, userIDs []string) (map[string][]Pusher, error) {
	out := map[string][]Pusher{}
	for len(userIDs) > 0 {
		chunk := userIDs[:min(len(userIDs), roomsPerQuery)]
		userIDs = userIDs[len(chunk):]
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		ps, err := s.queryPushers(ctx, `SELECT `+pusherCols+` FROM pushers WHERE user_id IN (`+
			sqldb.Placeholders(1, len(chunk))+`) ORDER BY pusher_id`, args...)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.UserID] = append(out[p.UserID], p)
		}
	}
	return out, nil
}

func (s *Store) queryPushers(ctx context.Context, q string, args ...any) ([]Pusher, error) {
	rows, err := s.db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pusher
	for rows.Next() {
		var p Pusher
		if err := rows.Scan(&p.ID, &p.UserID, &p.DeviceID, &p.Kind, &p.AppID, &p.PushKey, &p.AppDisplayName,
			&p.DeviceDisplayName, &p.ProfileTag, &p.Lang, &p.Data, &p.CreatedTS); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PushersWithJobs returns the IDs of pushers with queued pushes.
func (s *Store) PushersWithJobs(ctx context.Context) ([]int64, error) {
	return column[int64](ctx, s, `SELECT DISTINCT pusher_id FROM push_jobs`)
}

// NextJob returns a pusher's oldest queued push, or ErrNotFound.
func (s *Store) NextJob(ctx context.Context, pusherID int64) (*Job, error) {
	var j Job
	err := s.db.Read.QueryRowContext(ctx, `SELECT job_id, pusher_id, user_id, room_id, event_id, stream_pos, actions,
		attempts, next_try FROM push_jobs WHERE pusher_id = $1 ORDER BY job_id LIMIT 1`, pusherID).
		Scan(&j.ID, &j.PusherID, &j.UserID, &j.RoomID, &j.EventID, &j.StreamPos, &j.Actions, &j.Attempts, &j.NextTry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// DeleteJob removes a push once delivered (or given up).
func (s *Store) DeleteJob(ctx context.Context, id int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM push_jobs WHERE job_id = $1`, id)
	return err
}

// RetryJob records a failed attempt and when to try again.
func (s *Store) RetryJob(ctx context.Context, id int64, attempts int, nextTry int64) error {
	_, err := s.db.Write.ExecContext(ctx, `UPDATE push_jobs SET attempts = $1, next_try = $2 WHERE job_id = $3`,
		attempts, nextTry, id)
	return err
}
