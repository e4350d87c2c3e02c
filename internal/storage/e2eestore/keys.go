package e2eestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// OneTimeKey is a one-time or fallback key: its algorithm, its key ID (the
// part after the algorithm) and its JSON value in canonical form.
type OneTimeKey struct {
	Algorithm, KeyID string
	JSON             json.RawMessage
}

// FullID is the key's "<algorithm>:<key ID>" name.
func (k OneTimeKey) FullID() string { return k.Algorithm + ":" + k.KeyID }

// Upload is one /keys/upload for one device.
type Upload struct {
	// DeviceKeys is the canonical device_keys object; nil for none.
	DeviceKeys json.RawMessage
	// CheckDeviceKeys is called inside the transaction with the device
	// keys stored before (nil for none); its error aborts the upload.
	CheckDeviceKeys func(old json.RawMessage) error
	OneTimeKeys     []OneTimeKey
	// FallbackKeys holds at most one key per algorithm.
	FallbackKeys []OneTimeKey
	// MaxOneTimeKeys bounds the one-time keys stored for the device.
	MaxOneTimeKeys int
}

// ErrTooManyKeys: the upload would store more one-time keys for the device
// than allowed.
var ErrTooManyKeys = merr.InvalidParam("too many one-time keys stored for this device")

// Upload stores up in one transaction and returns the device's one-time key
// counts after it. A one-time key whose ID is already stored with the same
// JSON is skipped; with other JSON the upload fails (M_INVALID_PARAM
// naming it), as Synapse refuses it. A fallback key replaces the stored one
// of its algorithm, and is unused again unless it is the same key.
func (s *Store) Upload(ctx context.Context, userID, deviceID string, up Upload) (map[string]int, error) {
	var counts map[string]int
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		counts, err = s.UploadTx(ctx, tx, userID, deviceID, up)
		return err
	})
	return counts, err
}

// UploadTx is Upload in the caller's transaction tx.
func (s *Store) UploadTx(ctx context.Context, tx *sql.Tx, userID, deviceID string, up Upload) (map[string]int, error) {
	var counts map[string]int
	err := func() error {
		if up.DeviceKeys != nil {
			var old sql.NullString
			err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT key_json FROM e2ee_device_keys WHERE user_id = $1 AND device_id = $2 {{for_update}}`),
				userID, deviceID).Scan(&old)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var oldJSON json.RawMessage
			if old.Valid {
				oldJSON = json.RawMessage(old.String)
			}
			if up.CheckDeviceKeys != nil {
				if err := up.CheckDeviceKeys(oldJSON); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`, userID, deviceID, string(up.DeviceKeys)); err != nil {
				return err
			}
		}
		added := 0
		// This upload's place in the device's order of uploads (claimKeys
		// gives keys out in that order). Two concurrent uploads of one
		// device may share a number, and their keys then count as one
		// upload's.
		var seq int64
		if len(up.OneTimeKeys) > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(upload_seq), 0) + 1 FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2`,
				userID, deviceID).Scan(&seq); err != nil {
				return err
			}
		}
		for _, k := range up.OneTimeKeys {
			var old string
			err := tx.QueryRowContext(ctx, `SELECT key_json FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4`,
				userID, deviceID, k.Algorithm, k.KeyID).Scan(&old)
			switch {
			case err == nil && old == string(k.JSON):
				continue
			case err == nil:
				return merr.InvalidParam(fmt.Sprintf("one-time key %s already exists with other content", k.FullID()))
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_one_time_keys (user_id, device_id, algorithm, key_id, key_json, upload_seq) VALUES ($1, $2, $3, $4, $5, $6)`,
				userID, deviceID, k.Algorithm, k.KeyID, string(k.JSON), seq); err != nil {
				return err
			}
			added++
		}
		for _, k := range up.FallbackKeys {
			// The same key uploaded again keeps its used flag, as Synapse
			// does; a new one is unused.
			if _, err := tx.ExecContext(ctx, `INSERT INTO e2ee_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
				VALUES ($1, $2, $3, $4, $5, FALSE)
				ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id, key_json = excluded.key_json,
					used = CASE WHEN e2ee_fallback_keys.key_id = excluded.key_id AND e2ee_fallback_keys.key_json = excluded.key_json
						THEN e2ee_fallback_keys.used ELSE FALSE END`,
				userID, deviceID, k.Algorithm, k.KeyID, string(k.JSON)); err != nil {
				return err
			}
		}
		var err error
		if counts, err = oneTimeKeyCounts(ctx, tx, userID, deviceID); err != nil {
			return err
		}
		if added > 0 {
			total := 0
			for _, n := range counts {
				total += n
			}
			if total > up.MaxOneTimeKeys {
				return ErrTooManyKeys
			}
		}
		return nil
	}()
	return counts, err
}

// OneTimeKeyCounts returns the device's unclaimed one-time keys by
// algorithm.
func (s *Store) OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	return oneTimeKeyCounts(ctx, s.db.Read, userID, deviceID)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func oneTimeKeyCounts(ctx context.Context, q querier, userID, deviceID string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT algorithm, COUNT(*) FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm`,
		userID, deviceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var alg string
		var n int
		if err := rows.Scan(&alg, &n); err != nil {
			return nil, err
		}
		out[alg] = n
	}
	return out, rows.Err()
}

// KeyCounts returns, in one query (every /sync asks), the device's
// unclaimed one-time keys by algorithm and the algorithms of its fallback
// keys that were not claimed yet, sorted.
func (s *Store) KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `
		SELECT 0, algorithm, COUNT(*) FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
		UNION ALL
		SELECT 1, algorithm, 0 FROM e2ee_fallback_keys WHERE user_id = $1 AND device_id = $2 AND NOT used
		ORDER BY 1, 2`, userID, deviceID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	counts, unused := map[string]int{}, []string{}
	for rows.Next() {
		var (
			fallback, n int
			alg         string
		)
		if err := rows.Scan(&fallback, &alg, &n); err != nil {
			return nil, nil, err
		}
		if fallback == 1 {
			unused = append(unused, alg)
		} else {
			counts[alg] = n
		}
	}
	return counts, unused, rows.Err()
}

// UserDeviceKeys returns the device keys of the user's devices that have
// uploaded some, by device ID.
func (s *Store) UserDeviceKeys(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT device_id, key_json FROM e2ee_device_keys WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var d, j string
		if err := rows.Scan(&d, &j); err != nil {
			return nil, err
		}
		out[d] = json.RawMessage(j)
	}
	return out, rows.Err()
}

// Claim names one key to claim: a device and an algorithm.
type Claim struct {
	UserID, DeviceID, Algorithm string
}

// ClaimKeys claims a key for each claim, in one transaction: a one-time key
// of the algorithm, which is deleted (each is given out once,
// end_to_end_encryption.md "One-time and fallback keys"), or else the
// device's fallback key of the algorithm, which is marked used and kept.
// The result has one entry per claim; ok is false when the device has
// neither.
func (s *Store) ClaimKeys(ctx context.Context, claims []Claim) ([]ClaimedKey, error) {
	var out []ClaimedKey
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		out = make([]ClaimedKey, len(claims))
		for i, c := range claims {
			k, err := claimOne(ctx, tx, c, s.db.Dialect() == sqldb.Postgres)
			if err != nil {
				return err
			}
			out[i] = k
		}
		return nil
	})
	return out, err
}

// ClaimedKey is the answer to one Claim.
type ClaimedKey struct {
	Key OneTimeKey
	OK  bool
	// Fallback is set when the key is the device's fallback key.
	Fallback bool
}

// claimOne claims one key in tx. racy says that a concurrent claim may
// take the key this one picks (PostgreSQL).
func claimOne(ctx context.Context, tx *sql.Tx, c Claim, racy bool) (ClaimedKey, error) {
	// One statement picks and deletes the key, so only the claim whose
	// DELETE removed the row gets it back. Under PostgreSQL's READ
	// COMMITTED a concurrent claim may delete the picked row first: this
	// DELETE then waits for it, finds the row gone and returns nothing, so
	// look again while keys are left (each miss means a key is gone, so
	// this ends). SQLite runs one writer at a time: its DELETE finding
	// nothing means there is nothing, and the fallback key comes next.
	for {
		var id, j string
		err := tx.QueryRowContext(ctx, `DELETE FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
			AND key_id = (SELECT key_id FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
				ORDER BY upload_seq, key_id LIMIT 1)
			RETURNING key_id, key_json`, c.UserID, c.DeviceID, c.Algorithm).Scan(&id, &j)
		if err == nil {
			return ClaimedKey{Key: OneTimeKey{Algorithm: c.Algorithm, KeyID: id, JSON: json.RawMessage(j)}, OK: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return ClaimedKey{}, err
		}
		if !racy {
			break
		}
		var left bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM e2ee_one_time_keys WHERE user_id = $1 AND device_id = $2 AND algorithm = $3)`,
			c.UserID, c.DeviceID, c.Algorithm).Scan(&left); err != nil {
			return ClaimedKey{}, err
		}
		if !left {
			break
		}
	}
	var id, j string
	err := tx.QueryRowContext(ctx, `UPDATE e2ee_fallback_keys SET used = TRUE WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
		RETURNING key_id, key_json`, c.UserID, c.DeviceID, c.Algorithm).Scan(&id, &j)
	if errors.Is(err, sql.ErrNoRows) {
		return ClaimedKey{}, nil
	}
	if err != nil {
		return ClaimedKey{}, err
	}
	return ClaimedKey{Key: OneTimeKey{Algorithm: c.Algorithm, KeyID: id, JSON: json.RawMessage(j)}, OK: true, Fallback: true}, nil
}
