// Package threepidstore persists the validation sessions of third-party
// identifiers (client-server-api "Adding Account Administrative Contact
// Information", the requestToken endpoints): one session per purpose,
// address and client secret, with the SHA-256 of its live token only. One
// set of queries serves SQLite and PostgreSQL.
package threepidstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "threepid"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "threepid: validation sessions", SQL: `
-- token_hash is '' once the token was used (or never sent); validated_ts is
-- 0 until a token is submitted. A session is deleted when what it validated
-- is used, and a day after its last token expired.
CREATE TABLE threepid_sessions (
	session_id        TEXT   NOT NULL PRIMARY KEY,
	purpose           TEXT   NOT NULL,
	medium            TEXT   NOT NULL,
	address           TEXT   NOT NULL,
	client_secret     TEXT   NOT NULL,
	last_send_attempt BIGINT NOT NULL,
	next_link         TEXT   NOT NULL,
	token_hash        TEXT   NOT NULL,
	token_expires_ts  BIGINT NOT NULL,
	validated_ts      BIGINT NOT NULL,
	UNIQUE (purpose, medium, address, client_secret)
);
CREATE INDEX threepid_sessions_expiry ON threepid_sessions (token_expires_ts);
`},
}

// Errors of Validate and Consume.
var (
	// ErrNoSession: no session matches (unknown ID, other client secret,
	// other purpose, or already used).
	ErrNoSession = errors.New("threepidstore: no such session")
	// ErrBadToken: the token is not the session's live token (wrong, or
	// already used).
	ErrBadToken = errors.New("threepidstore: token not valid for the session")
	// ErrExpired: the token was right but its lifetime is over.
	ErrExpired = errors.New("threepidstore: token expired")
	// ErrNotValidated: the session exists but no token was submitted.
	ErrNotValidated = errors.New("threepidstore: session not validated")
)

// Session is one validation session.
type Session struct {
	ID              string
	Purpose         string
	Medium, Address string
	ClientSecret    string
	LastSendAttempt int64
	NextLink        string
	TokenHash       string
	TokenExpiresTS  int64
	ValidatedTS     int64
}

// Store is the validation session storage. It is safe for concurrent use.
type Store struct{ db *sqldb.DB }

// New migrates the threepid domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

const columns = `session_id, purpose, medium, address, client_secret, last_send_attempt, next_link,
	token_hash, token_expires_ts, validated_ts`

func scan(row interface{ Scan(...any) error }) (*Session, error) {
	var s Session
	err := row.Scan(&s.ID, &s.Purpose, &s.Medium, &s.Address, &s.ClientSecret, &s.LastSendAttempt, &s.NextLink,
		&s.TokenHash, &s.TokenExpiresTS, &s.ValidatedTS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &s, err
}

// Find returns the session of a purpose, address and client secret, or
// nil.
func (s *Store) Find(ctx context.Context, purpose, medium, address, clientSecret string) (*Session, error) {
	return scan(s.db.Read.QueryRowContext(ctx, `SELECT `+columns+` FROM threepid_sessions
		WHERE purpose = $1 AND medium = $2 AND address = $3 AND client_secret = $4`, purpose, medium, address, clientSecret))
}

// Save stores a session after its token was sent: a new one, or a new
// token and send attempt for an existing one (same ID). When another
// request created the same session first, that one is kept and returned.
// Sessions whose last token expired a day before now are deleted.
func (s *Store) Save(ctx context.Context, sess Session, now int64) (*Session, error) {
	var out *Session
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM threepid_sessions WHERE token_expires_ts < $1`, now-dayMS); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE threepid_sessions SET last_send_attempt = $2, next_link = $3, token_hash = $4,
			token_expires_ts = $5 WHERE session_id = $1`, sess.ID, sess.LastSendAttempt, sess.NextLink, sess.TokenHash, sess.TokenExpiresTS)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			out = &sess
			return err
		}
		// DO NOTHING, then read: an error would abort a PostgreSQL
		// transaction.
		if _, err := tx.ExecContext(ctx, `INSERT INTO threepid_sessions (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) ON CONFLICT (purpose, medium, address, client_secret) DO NOTHING`,
			sess.ID, sess.Purpose, sess.Medium, sess.Address, sess.ClientSecret, sess.LastSendAttempt, sess.NextLink,
			sess.TokenHash, sess.TokenExpiresTS); err != nil {
			return err
		}
		out, err = scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM threepid_sessions
			WHERE purpose = $1 AND medium = $2 AND address = $3 AND client_secret = $4`, sess.Purpose, sess.Medium, sess.Address, sess.ClientSecret))
		return err
	})
	return out, err
}

const dayMS = 24 * 60 * 60 * 1000

// Validate spends a session's token: when sid, clientSecret and the
// token's hash match the live token and it has not expired at now, the
// session is marked validated and the token can never be used again.
// It returns the session as it was before.
func (s *Store) Validate(ctx context.Context, sid, clientSecret, tokenHash string, now int64) (*Session, error) {
	var out *Session
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		sess, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM threepid_sessions WHERE session_id = $1`, sid))
		switch {
		case err != nil:
			return err
		case sess == nil || subtle.ConstantTimeCompare([]byte(sess.ClientSecret), []byte(clientSecret)) != 1:
			return ErrNoSession
		case sess.TokenHash == "" || subtle.ConstantTimeCompare([]byte(sess.TokenHash), []byte(tokenHash)) != 1:
			return ErrBadToken
		case sess.TokenExpiresTS <= now:
			return ErrExpired
		}
		// Conditional on the token still being live, so that of two
		// submissions racing on PostgreSQL only one spends it.
		res, err := tx.ExecContext(ctx, `UPDATE threepid_sessions SET token_hash = '', validated_ts = $3
			WHERE session_id = $1 AND token_hash = $2`, sid, tokenHash, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrBadToken
		}
		out = sess
		return nil
	})
	return out, err
}

// Consume deletes a validated session of a purpose and returns it: what
// it validated can be used once. Sessions validated before notBefore are
// too old to use.
func (s *Store) Consume(ctx context.Context, sid, clientSecret, purpose string, notBefore int64) (*Session, error) {
	var out *Session
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		sess, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM threepid_sessions WHERE session_id = $1`, sid))
		switch {
		case err != nil:
			return err
		case sess == nil || sess.Purpose != purpose || subtle.ConstantTimeCompare([]byte(sess.ClientSecret), []byte(clientSecret)) != 1:
			return ErrNoSession
		case sess.ValidatedTS == 0 || sess.ValidatedTS < notBefore:
			return ErrNotValidated
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM threepid_sessions WHERE session_id = $1`, sid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrNoSession
		}
		out = sess
		return nil
	})
	return out, err
}
