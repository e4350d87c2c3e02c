// Package spacestore keeps what the space hierarchy needs across requests
// and processes: the pagination sessions of GET /hierarchy (where a walk
// stopped, so that a next_batch token works on any process sharing the
// database). One set of queries serves SQLite and PostgreSQL.
package spacestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "spaces"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "spaces: hierarchy pagination sessions", SQL: `
-- One row per next_batch token handed out: the request's fixed
-- parameters and the walk's state (rooms still to visit and rooms seen,
-- as JSON the spaces service writes). Rows past expires_ts are refused
-- and deleted.
CREATE TABLE hierarchy_sessions (
	token          TEXT    NOT NULL PRIMARY KEY,
	user_id        TEXT    NOT NULL,
	root_id        TEXT    NOT NULL,
	suggested_only BOOLEAN NOT NULL,
	max_depth      BIGINT  NOT NULL,
	state          TEXT    NOT NULL,
	expires_ts     BIGINT  NOT NULL
);
CREATE INDEX hierarchy_sessions_expires ON hierarchy_sessions (expires_ts);
CREATE INDEX hierarchy_sessions_user ON hierarchy_sessions (user_id, expires_ts);
`},
}

// Session is one stored pagination session.
type Session struct {
	Token         string
	UserID        string
	RootID        string
	SuggestedOnly bool
	MaxDepth      int
	// State is the walk's state, opaque to the store.
	State     []byte
	ExpiresTS int64
}

// Store is the spaces storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the spaces domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// SaveSession stores sess, and in the same transaction deletes the
// sessions expired at nowMS and the user's oldest ones beyond
// maxPerUser, so the table stays bounded by its users' recent requests.
func (s *Store) SaveSession(ctx context.Context, sess Session, nowMS int64, maxPerUser int) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM hierarchy_sessions WHERE expires_ts <= $1`, nowMS); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hierarchy_sessions
			(token, user_id, root_id, suggested_only, max_depth, state, expires_ts) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			sess.Token, sess.UserID, sess.RootID, sess.SuggestedOnly, sess.MaxDepth, string(sess.State), sess.ExpiresTS); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM hierarchy_sessions WHERE user_id = $1 AND token NOT IN
			(SELECT token FROM hierarchy_sessions WHERE user_id = $1 ORDER BY expires_ts DESC, token LIMIT $2)`,
			sess.UserID, maxPerUser)
		return err
	})
}

// Session returns the session of token if it has not expired at nowMS;
// nil if it is unknown or expired.
func (s *Store) Session(ctx context.Context, token string, nowMS int64) (*Session, error) {
	var sess Session
	var state string
	err := s.db.Read.QueryRowContext(ctx, `SELECT token, user_id, root_id, suggested_only, max_depth, state, expires_ts
		FROM hierarchy_sessions WHERE token = $1 AND expires_ts > $2`, token, nowMS).
		Scan(&sess.Token, &sess.UserID, &sess.RootID, &sess.SuggestedOnly, &sess.MaxDepth, &state, &sess.ExpiresTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sess.State = []byte(state)
	return &sess, nil
}
