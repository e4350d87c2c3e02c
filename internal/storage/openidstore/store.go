// Package openidstore persists OpenID tokens (client-server-api "OpenID"):
// only their SHA-256, with the user and the expiry. One set of queries
// serves SQLite and PostgreSQL.
package openidstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "openid"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "openid: tokens", SQL: `
CREATE TABLE openid_tokens (
	token_hash TEXT   NOT NULL PRIMARY KEY,
	user_id    TEXT   NOT NULL,
	expires_ts BIGINT NOT NULL
);
CREATE INDEX openid_tokens_expiry ON openid_tokens (expires_ts);
`},
}

// Store is the OpenID token storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the openid domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Add stores a token's hash, and deletes tokens expired before now.
func (s *Store) Add(ctx context.Context, hash, userID string, expiresTS, now int64) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM openid_tokens WHERE expires_ts <= $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`,
			hash, userID, expiresTS)
		return err
	})
}

// UserOf returns the user of a token valid at now, or "".
func (s *Store) UserOf(ctx context.Context, hash string, now int64) (string, error) {
	var userID string
	err := s.db.Read.QueryRowContext(ctx, `SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2`,
		hash, now).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return userID, err
}
