package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

const deviceColumns = `user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip, last_seen_user_agent`

type rowScanner interface{ Scan(dest ...any) error }

func scanDevice(row rowScanner) (Device, error) {
	var (
		d            Device
		name, ip, ua sql.NullString
		lastSeen     sql.NullInt64
	)
	err := row.Scan(&d.UserID, &d.DeviceID, &name, &d.CreatedTS, &lastSeen, &ip, &ua)
	d.DisplayName, d.LastSeenTS, d.LastSeenIP, d.LastSeenUserAgent = name.String, lastSeen.Int64, ip.String, ua.String
	return d, err
}

func (s *sqlStore) ListDevices(ctx context.Context, userID string) ([]Device, error) {
	rows, err := s.db.Read.QueryContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	devices := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		devices = append(devices, d)
	}
	return devices, rows.Err()
}

func (s *sqlStore) GetDevice(ctx context.Context, userID, deviceID string) (*Device, error) {
	d, err := scanDevice(s.db.Read.QueryRowContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("device %s: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func (s *sqlStore) SetDeviceDisplayName(ctx context.Context, userID, deviceID, name string) error {
	res, err := s.db.Write.ExecContext(ctx,
		`UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`, nullString(name), userID, deviceID)
	return mustAffect(res, err, "device "+deviceID)
}

// deleteBatch bounds the IN list of one DELETE well under both engines'
// parameter limits.
const deleteBatch = 500

func (s *sqlStore) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) ([]string, error) {
	var deleted []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		deleted, err = s.deleteDevicesTx(ctx, tx, userID, deviceIDs)
		return err
	})
	return deleted, err
}

// deleteDevicesTx is DeleteDevices in tx.
func (s *sqlStore) deleteDevicesTx(ctx context.Context, tx *sql.Tx, userID string, deviceIDs []string) ([]string, error) {
	var deleted []string
	for start := 0; start < len(deviceIDs); start += deleteBatch {
		batch := deviceIDs[start:min(start+deleteBatch, len(deviceIDs))]
		args := make([]any, 0, len(batch)+1)
		args = append(args, userID)
		for _, id := range batch {
			args = append(args, id)
		}
		ids, err := deleteReturning(ctx, tx, `DELETE FROM devices WHERE user_id = $1 AND device_id IN (`+
			sqldb.Placeholders(2, len(batch))+`) RETURNING device_id`, args...)
		if err != nil {
			return nil, err
		}
		deleted = append(deleted, ids...)
	}
	return deleted, s.devicesDeleted(ctx, tx, userID, deleted)
}

func (s *sqlStore) ReplaceDevice(ctx context.Context, r DeviceReplacement) ([]string, error) {
	var deleted []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// The user's row lock serialises replacements of one user's
		// devices across processes (on SQLite the write lock does).
		var one int
		err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT 1 FROM users WHERE user_id = $1 {{for_update}}`), r.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		old, err := r.Prepare(ctx, tx)
		if err != nil {
			return err
		}
		if deleted, err = s.deleteDevicesTx(ctx, tx, r.UserID, old); err != nil {
			return err
		}
		created, err := insertDevice(ctx, tx, r.UserID, r.DeviceID, r.DisplayName, r.NowTS, "", "")
		if err != nil {
			return err
		}
		if !created {
			return ErrDeviceExists
		}
		return r.Finish(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

func (s *sqlStore) DeleteOtherDevices(ctx context.Context, userID, keep string) ([]string, error) {
	var deleted []string
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		deleted, err = deleteReturning(ctx, tx,
			`DELETE FROM devices WHERE user_id = $1 AND device_id <> $2 RETURNING device_id`, userID, keep)
		if err != nil {
			return err
		}
		if err := s.devicesDeleted(ctx, tx, userID, deleted); err != nil {
			return err
		}
		if keep == "" {
			// Tokens without a device (none are minted today) go too.
			_, err = tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE user_id = $1`, userID)
		}
		return err
	})
	return deleted, err
}

func deleteReturning(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
