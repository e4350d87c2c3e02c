// Package e2eestore stores what end-to-end encryption needs the server to
// keep (client-server-api "End-to-End Encryption" and "Send-to-Device
// messaging"): devices' identity keys, one-time and fallback keys, and the
// queues of to-device messages waiting for each device. The server never
// sees plaintext; keys and message contents are stored as the clients sent
// them. One set of queries serves SQLite and PostgreSQL
// (internal/storage/sqldb).
//
// Tables:
//
//   - e2ee_to_device: one row per (message, recipient device), keyed by its
//     position in the to-device stream;
//   - e2ee_to_device_txns: transaction IDs of sendToDevice requests, so a
//     retried request is not delivered twice;
//   - e2ee_positions: the highest position each stream of this package has
//     handed out. Delivered to-device rows are deleted, so the table's
//     maximum alone could go backwards across a restart and give a new
//     message a position a client's token already covers;
//   - e2ee_device_keys, e2ee_one_time_keys, e2ee_fallback_keys: the keys;
//   - e2ee_device_list_changes: the device-list stream, a row per device
//     a local user has (and one for their deleted devices and keys as a
//     whole), one per other server's user (AddDeviceListChanges,
//     FoldDeviceListChanges);
//   - e2ee_remote_device_lists, e2ee_remote_devices: the cache of other
//     servers' users' device lists, kept in step by m.device_list_update;
//   - e2ee_dehydrated_devices: each user's dehydrated device (MSC3814).
//
// The store never reads a clock: timestamps are passed in.
package e2eestore

import (
	"context"
	"database/sql"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "e2ee"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "to-device queues, device keys, one-time and fallback keys", SQL: `
CREATE TABLE e2ee_to_device (
	pos       BIGINT PRIMARY KEY,
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	sender    TEXT NOT NULL,
	type      TEXT NOT NULL,
	content   TEXT NOT NULL
);
CREATE INDEX e2ee_to_device_queue ON e2ee_to_device (user_id, device_id, pos);

CREATE TABLE e2ee_to_device_txns (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	txn_id    TEXT NOT NULL,
	ts        BIGINT NOT NULL,
	PRIMARY KEY (user_id, device_id, txn_id)
);
CREATE INDEX e2ee_to_device_txns_ts ON e2ee_to_device_txns (ts);

CREATE TABLE e2ee_positions (
	stream TEXT PRIMARY KEY,
	pos    BIGINT NOT NULL
);

-- key_json is the signed device_keys object as uploaded, without unsigned.
CREATE TABLE e2ee_device_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);

CREATE TABLE e2ee_one_time_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- At most one fallback key per device and algorithm.
CREATE TABLE e2ee_fallback_keys (
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	key_json  TEXT NOT NULL,
	used      BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, device_id, algorithm)
);
`},
	{Version: 2, Name: "device list change log and the cache of other servers' device lists", SQL: `
-- One row per change of a user's device list, at its position in the
-- device-list stream: a local device added, deleted, renamed or given
-- keys (device_id set, prev_pos the user's previous such change: the
-- prev_id of the m.device_list_update EDU sent for it), a change of a
-- user's keys as a whole such as cross-signing (device_id ''), or an
-- update of another server's user. Version 3 keeps one row per (user,
-- device): see there.
CREATE TABLE e2ee_device_list_changes (
	pos       BIGINT PRIMARY KEY,
	user_id   TEXT NOT NULL,
	device_id TEXT NOT NULL,
	prev_pos  BIGINT NOT NULL
);
CREATE INDEX e2ee_device_list_changes_user ON e2ee_device_list_changes (user_id, pos);

-- Other servers' users' device lists as their servers last told us:
-- stream_id is the last m.device_list_update (or /user/devices answer)
-- applied; stale means an update was missed and the list must be fetched
-- again before it is used.
CREATE TABLE e2ee_remote_device_lists (
	user_id   TEXT PRIMARY KEY,
	stream_id BIGINT NOT NULL,
	stale     BOOLEAN NOT NULL
);
-- key_json is the device's signed keys ('' before it uploaded any).
CREATE TABLE e2ee_remote_devices (
	user_id      TEXT NOT NULL,
	device_id    TEXT NOT NULL,
	display_name TEXT NOT NULL,
	key_json     TEXT NOT NULL,
	PRIMARY KEY (user_id, device_id)
);
`},
	{Version: 3, Name: "device list change log: one row per user and device", SQL: `
-- Retention, as Synapse keeps its device_lists_stream: a new change of a
-- (user, device) deletes that pair's older rows, since a sync only needs
-- to know whether the pair changed after its token. first_pos is the
-- earliest position the row stands for (the oldest row it replaced), so
-- a token from before a deleted row still finds the user changed. The
-- newest row is never deleted, so the table's maximum stays the stream's
-- high-water mark.
ALTER TABLE e2ee_device_list_changes ADD COLUMN first_pos BIGINT NOT NULL DEFAULT 0;
UPDATE e2ee_device_list_changes SET first_pos = (SELECT MIN(o.pos) FROM e2ee_device_list_changes o
	WHERE o.user_id = e2ee_device_list_changes.user_id AND o.device_id = e2ee_device_list_changes.device_id);
DELETE FROM e2ee_device_list_changes WHERE pos < (SELECT MAX(o.pos) FROM e2ee_device_list_changes o
	WHERE o.user_id = e2ee_device_list_changes.user_id AND o.device_id = e2ee_device_list_changes.device_id);
`},
	{Version: 4, Name: "one-time keys claimed in the order they were uploaded", SQL: `
-- keys.yaml (claimKeys, spec v1.13, MSC4225): "One-time keys are given out
-- in the order that they were uploaded"; keys of one upload are equal.
-- upload_seq numbers a device's uploads; keys stored before this column
-- are older than any upload after it, so 0 gives them out first.
ALTER TABLE e2ee_one_time_keys ADD COLUMN upload_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX e2ee_one_time_keys_upload_order ON e2ee_one_time_keys (user_id, device_id, algorithm, upload_seq, key_id);
`},
	{Version: 5, Name: "dehydrated devices (MSC3814)", SQL: `
-- Each user's dehydrated device (at most one): a device of the accounts
-- domain's devices table that no one logs in to, with the encrypted
-- account a client rehydrates (device_data, opaque to the server). Its
-- row goes with the device (DeleteDevicesTx).
CREATE TABLE e2ee_dehydrated_devices (
	user_id     TEXT PRIMARY KEY,
	device_id   TEXT NOT NULL,
	device_data TEXT NOT NULL,
	created_ts  BIGINT NOT NULL
);
`},
}

// Store is the e2ee domain's storage. Safe for concurrent use.
type Store struct {
	db *sqldb.DB
}

// New migrates the schema and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	if err := sqldb.Migrate(ctx, db, CrossSigningDomain, crossSigningMigrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// DeleteDevices removes everything stored for the devices: their pending
// to-device messages, transaction IDs and keys (a deleted device's queue
// must not reach a later device that reuses its ID), and a dehydrated
// device's record.
func (s *Store) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	if len(deviceIDs) == 0 {
		return nil
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return DeleteDevicesTx(ctx, tx, userID, deviceIDs) })
}

// DeleteDevicesTx is DeleteDevices inside tx: the accounts store's device
// deletion hook (accounts.DeviceDeletionHook), so that a device and its
// end-to-end data go in one commit.
func DeleteDevicesTx(ctx context.Context, tx *sql.Tx, userID string, deviceIDs []string) error {
	for _, table := range []string{"e2ee_to_device", "e2ee_to_device_txns", "e2ee_device_keys", "e2ee_one_time_keys", "e2ee_fallback_keys",
		"e2ee_dehydrated_devices"} {
		for _, d := range deviceIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1 AND device_id = $2`, userID, d); err != nil {
				return err
			}
		}
	}
	// A later device reusing the ID must not inherit the signatures.
	for _, d := range deviceIDs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_cross_signing_sigs WHERE target_user = $1 AND target_key = $2`, userID, d); err != nil {
			return err
		}
	}
	return nil
}
