// Package presencestore persists local users' presence (client-server-api
// "Presence") on SQLite or PostgreSQL with one set of queries. Only
// changes of state or status message are written, never the activity that
// every request or sync brings; the presence service keeps that in memory.
package presencestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "presence"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "presence of local users", SQL: `
CREATE TABLE presence (
	user_id        TEXT   PRIMARY KEY,
	state          TEXT   NOT NULL,
	status_msg     TEXT,
	last_active_ts BIGINT NOT NULL
);
CREATE INDEX presence_state ON presence (state);
`},
}

// Presence is a user's stored presence.
type Presence struct {
	UserID string
	// State is online, unavailable or offline.
	State string
	// StatusMsg is nil when no status message is set.
	StatusMsg *string
	// LastActiveTS is when the user was last active (ms since the epoch).
	LastActiveTS int64
}

// Store is the presence storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the presence domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Put writes the presences, in one transaction.
func (s *Store) Put(ctx context.Context, ps ...Presence) error {
	return s.db.WithTx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if _, err := tx.ExecContext(ctx, `INSERT INTO presence (user_id, state, status_msg, last_active_ts)
				VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
					last_active_ts = excluded.last_active_ts`,
				p.UserID, p.State, p.StatusMsg, p.LastActiveTS); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get returns a user's stored presence, or nil.
func (s *Store) Get(ctx context.Context, userID string) (*Presence, error) {
	p := Presence{UserID: userID}
	var msg sql.NullString
	err := s.db.Read.QueryRowContext(ctx, `SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = $1`, userID).
		Scan(&p.State, &msg, &p.LastActiveTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if msg.Valid {
		p.StatusMsg = &msg.String
	}
	return &p, err
}

// NotOffline returns up to limit users whose stored state is not offline:
// what a starting server takes over (and times out if they do not return).
func (s *Store) NotOffline(ctx context.Context, limit int) ([]Presence, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, state, status_msg, last_active_ts FROM presence
		WHERE state <> 'offline' LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Presence
	for rows.Next() {
		var p Presence
		var msg sql.NullString
		if err := rows.Scan(&p.UserID, &p.State, &msg, &p.LastActiveTS); err != nil {
			return nil, err
		}
		if msg.Valid {
			p.StatusMsg = &msg.String
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
