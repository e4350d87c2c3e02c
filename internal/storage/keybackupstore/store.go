// Package keybackupstore stores users' server-side key backups
// (client-server-api "Server-side key backups"): the backup versions with
// their algorithm and auth_data, and the encrypted session keys in each.
// The server never sees the keys: session_data is stored as uploaded. One
// set of queries serves SQLite and PostgreSQL (internal/storage/sqldb).
//
// Tables:
//
//   - key_backup_users: one row per user who ever created a backup: the
//     last version number handed out. Writers lock it, so that creating,
//     deleting and writing to a user's backups happen one at a time;
//   - key_backup_versions: the versions. A deleted version keeps its row
//     (deleted = TRUE) so that deleting it again succeeds, as the spec asks,
//     and its number is never reused;
//   - key_backup_keys: the session keys of each live version.
package keybackupstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "keybackup"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "key backup versions and session keys", SQL: `
CREATE TABLE key_backup_users (
	user_id      TEXT PRIMARY KEY,
	last_version BIGINT NOT NULL
);

CREATE TABLE key_backup_versions (
	user_id   TEXT NOT NULL,
	version   BIGINT NOT NULL,
	algorithm TEXT NOT NULL,
	auth_data TEXT NOT NULL,
	etag      BIGINT NOT NULL DEFAULT 0,
	deleted   BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (user_id, version)
);

CREATE TABLE key_backup_keys (
	user_id             TEXT NOT NULL,
	version             BIGINT NOT NULL,
	room_id             TEXT NOT NULL,
	session_id          TEXT NOT NULL,
	first_message_index BIGINT NOT NULL,
	forwarded_count     BIGINT NOT NULL,
	is_verified         BOOLEAN NOT NULL,
	session_data        TEXT NOT NULL,
	PRIMARY KEY (user_id, version, room_id, session_id)
);
`},
}

// Store is the key backup domain's storage. Safe for concurrent use.
type Store struct {
	db *sqldb.DB
}

// New migrates the schema and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Version is one backup version as stored.
type Version struct {
	Version   string
	Algorithm string
	AuthData  json.RawMessage
	// Etag changes whenever the version's keys change.
	Etag  string
	Count int
}

// ErrNoVersion is returned for a version that does not exist or was
// deleted (key_backup.yaml: 404 M_NOT_FOUND).
var ErrNoVersion = merr.NotFound("Unknown backup version")

// parseVersion turns a version string into its number. Versions are
// decimal numbers handed out here; any other string names no version.
func parseVersion(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
		return 0, false
	}
	return n, true
}

func formatVersion(n int64) string { return strconv.FormatInt(n, 10) }

// CreateVersion adds a backup version, which becomes the user's current
// one, and returns its version string. At most maxLive versions of the
// user may be live (not deleted) at once.
func (s *Store) CreateVersion(ctx context.Context, userID, algorithm string, authData json.RawMessage, maxLive int) (string, error) {
	var version int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// The upsert locks the user's row until the commit.
		if err := tx.QueryRowContext(ctx, `INSERT INTO key_backup_users (user_id, last_version) VALUES ($1, 1)
			ON CONFLICT (user_id) DO UPDATE SET last_version = key_backup_users.last_version + 1
			RETURNING last_version`, userID).Scan(&version); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_backup_versions WHERE user_id = $1 AND NOT deleted`,
			userID).Scan(&live); err != nil {
			return err
		}
		if live >= maxLive {
			return merr.BadRequest(merr.CodeResourceLimitExceeded, "too many backup versions; delete an old one first")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data) VALUES ($1, $2, $3, $4)`,
			userID, version, algorithm, string(authData))
		return err
	})
	if err != nil {
		return "", err
	}
	return formatVersion(version), nil
}

// lockUser takes the user's writer lock for the transaction (PostgreSQL;
// SQLite's single writer needs none). A user who never created a backup
// has none: ErrNoVersion.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, userID string) error {
	var last int64
	err := tx.QueryRowContext(ctx, s.db.Expand(`SELECT last_version FROM key_backup_users WHERE user_id = $1 {{for_update}}`), userID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoVersion
	}
	return err
}

// GetVersion returns a live version of the user's backup, or with version
// "" the current one (the live version created last). ErrNoVersion when
// there is none.
func (s *Store) GetVersion(ctx context.Context, userID, version string) (*Version, error) {
	var out *Version
	err := s.db.WithReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = getVersion(ctx, tx, userID, version)
		return err
	})
	return out, err
}

func getVersion(ctx context.Context, q sqldb.Querier, userID, version string) (*Version, error) {
	var row *sql.Row
	if version == "" {
		row = q.QueryRowContext(ctx, `SELECT version, algorithm, auth_data, etag FROM key_backup_versions
			WHERE user_id = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`, userID)
	} else {
		n, ok := parseVersion(version)
		if !ok {
			return nil, ErrNoVersion
		}
		row = q.QueryRowContext(ctx, `SELECT version, algorithm, auth_data, etag FROM key_backup_versions
			WHERE user_id = $1 AND version = $2 AND NOT deleted`, userID, n)
	}
	var n, etag int64
	var v Version
	var auth string
	if err := row.Scan(&n, &v.Algorithm, &auth, &etag); errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoVersion
	} else if err != nil {
		return nil, err
	}
	v.Version, v.AuthData, v.Etag = formatVersion(n), json.RawMessage(auth), strconv.FormatInt(etag, 10)
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM key_backup_keys WHERE user_id = $1 AND version = $2`,
		userID, n).Scan(&v.Count); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateVersion replaces a live version's auth_data; the algorithm cannot
// change (key_backup.yaml: 400 M_INVALID_PARAM).
func (s *Store) UpdateVersion(ctx context.Context, userID, version, algorithm string, authData json.RawMessage) error {
	n, ok := parseVersion(version)
	if !ok {
		return ErrNoVersion
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		var old string
		err := tx.QueryRowContext(ctx, `SELECT algorithm FROM key_backup_versions WHERE user_id = $1 AND version = $2 AND NOT deleted`,
			userID, n).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoVersion
		} else if err != nil {
			return err
		}
		if old != algorithm {
			return merr.InvalidParam("Algorithm does not match")
		}
		_, err = tx.ExecContext(ctx, `UPDATE key_backup_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2`,
			userID, n, string(authData))
		return err
	})
}

// DeleteVersion deletes a version and all its keys. Deleting a version
// that was deleted before succeeds (key_backup.yaml); one that never
// existed is ErrNoVersion.
func (s *Store) DeleteVersion(ctx context.Context, userID, version string) error {
	n, ok := parseVersion(version)
	if !ok {
		return ErrNoVersion
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE key_backup_versions SET deleted = TRUE WHERE user_id = $1 AND version = $2`, userID, n)
		if err != nil {
			return err
		}
		if rows, err := res.RowsAffected(); err != nil {
			return err
		} else if rows == 0 {
			return ErrNoVersion
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM key_backup_keys WHERE user_id = $1 AND version = $2`, userID, n)
		return err
	})
}

// DeleteUser removes every backup version and key of the user.
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"key_backup_keys", "key_backup_versions", "key_backup_users"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, userID); err != nil {
				return err
			}
		}
		return nil
	})
}
