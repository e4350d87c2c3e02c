package e2eestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// ToDeviceMessage is one to-device message queued for one device.
type ToDeviceMessage struct {
	Pos              int64 // position in the to-device stream
	UserID, DeviceID string
	Sender, Type     string
	Content          json.RawMessage
}

// Txn names a sendToDevice request for idempotency: a retry with the same
// transaction ID from the same device is stored once (client-server-api
// "Transaction identifiers"). For an m.direct_to_device EDU, UserID is the
// origin server, DeviceID empty and TxnID the EDU's message_id.
type Txn struct {
	UserID, DeviceID, TxnID string
}

// HasTxn reports whether txn was stored.
func (s *Store) HasTxn(ctx context.Context, txn *Txn) (bool, error) {
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM e2ee_to_device_txns WHERE user_id = $1 AND device_id = $2 AND txn_id = $3`,
		txn.UserID, txn.DeviceID, txn.TxnID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// streamToDevice is the to-device stream's row in e2ee_positions.
const streamToDevice = "to_device"

// MaxToDevicePos is the highest to-device position ever handed out, 0 for
// none: the larger of the queue's maximum and the recorded high-water mark,
// which outlives delivered (deleted) rows.
func (s *Store) MaxToDevicePos(ctx context.Context) (int64, error) {
	var top, mark sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT MAX(pos) FROM e2ee_to_device`).Scan(&top)
	if err != nil {
		return 0, err
	}
	err = s.db.Read.QueryRowContext(ctx, `SELECT pos FROM e2ee_positions WHERE stream = $1`, streamToDevice).Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return max(top.Int64, mark.Int64), nil
}

// insertBatch bounds the rows of one multi-row INSERT.
const insertBatch = 100

// EnqueueToDevice stores msgs, whose positions the caller reserved, in one
// transaction together with txn (when not nil). If txn was stored before,
// nothing is stored and duplicate is true. A message for a device whose
// queue already holds maxPerDevice messages is not stored and is returned
// in dropped (the caller's policy decides what that means).
func (s *Store) EnqueueToDevice(ctx context.Context, txn *Txn, msgs []ToDeviceMessage, maxPerDevice int, nowMS int64) (duplicate bool, dropped []ToDeviceMessage, err error) {
	err = s.db.WithTx(ctx, func(tx *sql.Tx) error {
		duplicate, dropped = false, nil
		if txn != nil {
			res, err := tx.ExecContext(ctx, `INSERT INTO e2ee_to_device_txns (user_id, device_id, txn_id, ts) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, device_id, txn_id) DO NOTHING`, txn.UserID, txn.DeviceID, txn.TxnID, nowMS)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				duplicate = true
				return nil
			}
		}
		if len(msgs) == 0 {
			return nil
		}
		queued, err := queueLengths(ctx, tx, msgs)
		if err != nil {
			return err
		}
		keep := make([]ToDeviceMessage, 0, len(msgs))
		var top int64
		for _, m := range msgs {
			top = max(top, m.Pos)
			k := [2]string{m.UserID, m.DeviceID}
			if queued[k] >= maxPerDevice {
				dropped = append(dropped, m)
				continue
			}
			queued[k]++
			keep = append(keep, m)
		}
		for len(keep) > 0 {
			n := min(len(keep), insertBatch)
			if err := insertToDevice(ctx, tx, keep[:n]); err != nil {
				return err
			}
			keep = keep[n:]
		}
		_, err = tx.ExecContext(ctx, s.db.Expand(`INSERT INTO e2ee_positions (stream, pos) VALUES ($1, $2)
			ON CONFLICT (stream) DO UPDATE SET pos = {{greatest}}(e2ee_positions.pos, excluded.pos)`), streamToDevice, top)
		return err
	})
	return duplicate, dropped, err
}

// queueLengths counts the queued messages of every device msgs go to, one
// query per recipient user.
func queueLengths(ctx context.Context, tx *sql.Tx, msgs []ToDeviceMessage) (map[[2]string]int, error) {
	out := map[[2]string]int{}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.UserID] {
			continue
		}
		seen[m.UserID] = true
		rows, err := tx.QueryContext(ctx, `SELECT device_id, COUNT(*) FROM e2ee_to_device WHERE user_id = $1 GROUP BY device_id`, m.UserID)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d string
			var n int
			if err := rows.Scan(&d, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[[2]string{m.UserID, d}] = n
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func insertToDevice(ctx context.Context, tx *sql.Tx, msgs []ToDeviceMessage) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO e2ee_to_device (pos, user_id, device_id, sender, type, content) VALUES `)
	args := make([]any, 0, 6*len(msgs))
	for i, m := range msgs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(" + sqldb.Placeholders(6*i+1, 6) + ")")
		args = append(args, m.Pos, m.UserID, m.DeviceID, m.Sender, m.Type, string(m.Content))
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// ToDeviceMessages returns up to limit messages queued for the device with
// positions in (after, upto], in order.
func (s *Store) ToDeviceMessages(ctx context.Context, userID, deviceID string, after, upto int64, limit int) ([]ToDeviceMessage, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pos, sender, type, content FROM e2ee_to_device
		WHERE user_id = $1 AND device_id = $2 AND pos > $3 AND pos <= $4 ORDER BY pos LIMIT $5`,
		userID, deviceID, after, upto, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ToDeviceMessage
	for rows.Next() {
		m := ToDeviceMessage{UserID: userID, DeviceID: deviceID}
		var content string
		if err := rows.Scan(&m.Pos, &m.Sender, &m.Type, &content); err != nil {
			return nil, err
		}
		m.Content = json.RawMessage(content)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ToDeviceBetween returns the messages queued for any device at positions
// in (after, upto], in order, at most limit; more reports that there were
// more.
func (s *Store) ToDeviceBetween(ctx context.Context, after, upto int64, limit int) ([]ToDeviceMessage, bool, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pos, user_id, device_id, sender, type, content FROM e2ee_to_device
		WHERE pos > $1 AND pos <= $2 ORDER BY pos LIMIT $3`, after, upto, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []ToDeviceMessage
	for rows.Next() {
		var m ToDeviceMessage
		var content string
		if err := rows.Scan(&m.Pos, &m.UserID, &m.DeviceID, &m.Sender, &m.Type, &content); err != nil {
			return nil, false, err
		}
		m.Content = json.RawMessage(content)
		out = append(out, m)
	}
	if len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}

// DeleteToDeviceUpTo deletes the device's messages at positions <= upto:
// the client has shown it holds them. It first looks on the reader pool, so
// the common case (nothing to delete) costs no write.
func (s *Store) DeleteToDeviceUpTo(ctx context.Context, userID, deviceID string, upto int64) (int64, error) {
	var one int
	err := s.db.Read.QueryRowContext(ctx, `SELECT 1 FROM e2ee_to_device WHERE user_id = $1 AND device_id = $2 AND pos <= $3 LIMIT 1`,
		userID, deviceID, upto).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	res, err := s.db.Write.ExecContext(ctx, `DELETE FROM e2ee_to_device WHERE user_id = $1 AND device_id = $2 AND pos <= $3`,
		userID, deviceID, upto)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// PruneToDeviceTxns forgets transaction IDs stored before beforeMS.
func (s *Store) PruneToDeviceTxns(ctx context.Context, beforeMS int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM e2ee_to_device_txns WHERE ts < $1`, beforeMS)
	return err
}
