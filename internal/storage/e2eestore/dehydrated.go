package e2eestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
)

// DehydratedDevice is a user's dehydrated device (MSC3814): its device ID
// and the device data its client uploaded, opaque to the server.
type DehydratedDevice struct {
	DeviceID  string
	Data      json.RawMessage
	CreatedTS int64
}

// DehydratedDevice returns the user's dehydrated device; ok is false when
// the user has none.
func (s *Store) DehydratedDevice(ctx context.Context, userID string) (d DehydratedDevice, ok bool, err error) {
	var data string
	err = s.db.Read.QueryRowContext(ctx, `SELECT device_id, device_data, created_ts FROM e2ee_dehydrated_devices WHERE user_id = $1`,
		userID).Scan(&d.DeviceID, &data, &d.CreatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return DehydratedDevice{}, false, nil
	}
	if err != nil {
		return DehydratedDevice{}, false, err
	}
	d.Data = json.RawMessage(data)
	return d, true, nil
}

// DehydratedDeviceTx returns, in tx and locked for its end, the ID of the
// user's dehydrated device ("" for none).
func (s *Store) DehydratedDeviceTx(ctx context.Context, tx *sql.Tx, userID string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT device_id FROM e2ee_dehydrated_devices WHERE user_id = $1 {{for_update}}`),
		userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// SetDehydratedDeviceTx makes d the user's dehydrated device, in tx. The
// device itself, its keys and the deletion of the one it replaces are the
// caller's, in the same transaction.
func (s *Store) SetDehydratedDeviceTx(ctx context.Context, tx *sql.Tx, userID string, d DehydratedDevice) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO e2ee_dehydrated_devices (user_id, device_id, device_data, created_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data, created_ts = excluded.created_ts`,
		userID, d.DeviceID, string(d.Data), d.CreatedTS)
	return err
}
