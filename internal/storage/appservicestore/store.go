// Package appservicestore persists what the homeserver owes each
// application service (application-service-api "Pushing events"): per
// appservice, the positions up to which each stream has been turned into
// transactions, and the transactions built but not yet acknowledged.
//
// A transaction is stored, with the positions it advances to, in one
// database transaction before it is sent: a crash before the
// appservice's 200 re-sends the same transaction ID with the same body
// (which the spec requires: "Homeservers MUST NOT alter … events they
// were going to send within that transaction ID on retries"), and an
// acknowledged transaction is deleted, so it is never sent again.
// One set of queries serves SQLite and PostgreSQL.
package appservicestore

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Domain is the schema_versions domain of this package's tables.
const Domain = "appservice_txns"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "appservice transactions: stream positions and the queue of unacknowledged transactions", SQL: `
-- Per appservice and stream (the room event stream, receipts, to-device
-- messages, device lists, and "txn", the last transaction ID handed out):
-- the position up to which the stream has been queued as transactions.
CREATE TABLE appservice_positions (
	as_id  TEXT   NOT NULL,
	stream TEXT   NOT NULL,
	pos    BIGINT NOT NULL,
	PRIMARY KEY (as_id, stream)
);

-- Transactions built and not yet acknowledged, sent in txn_id order per
-- appservice. body is the JSON request body, sent byte for byte on every
-- retry.
CREATE TABLE appservice_txns (
	as_id      TEXT    NOT NULL,
	txn_id     BIGINT  NOT NULL,
	body       TEXT    NOT NULL,
	events     INTEGER NOT NULL,
	created_ts BIGINT  NOT NULL,
	PRIMARY KEY (as_id, txn_id)
);
`},
}

// StreamTxn is the positions row holding the last transaction ID given.
const StreamTxn = "txn"

// ErrNotFound is returned when there is no pending transaction.
var ErrNotFound = errors.New("appservicestore: not found")

// Store is the appservice transaction storage. It is safe for concurrent
// use.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// New migrates the domain and returns the store.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := sqldb.Migrate(ctx, db, Domain, migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// Positions returns an appservice's stored stream positions by stream; a
// stream never stored is absent.
func (s *Store) Positions(ctx context.Context, asID string) (map[string]int64, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT stream, pos FROM appservice_positions WHERE as_id = $1`, asID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var p int64
		if err := rows.Scan(&st, &p); err != nil {
			return nil, err
		}
		out[st] = p
	}
	return out, rows.Err()
}

// Txn is a transaction queued for an appservice.
type Txn struct {
	ASID string
	ID   int64
	Body []byte
	// Events is how many room events the body carries.
	Events int
}

// Queue stores a transaction with the next transaction ID of the
// appservice, and the stream positions it covers, in one database
// transaction, and returns the ID. Transaction IDs only grow: an ID once
// given is never given again, even after its transaction was
// acknowledged and deleted, since appservices recognise retries by it.
func (s *Store) Queue(ctx context.Context, asID string, body []byte, events int, positions map[string]int64) (int64, error) {
	var id int64
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT pos FROM appservice_positions WHERE as_id = $1 AND stream = $2`,
			asID, StreamTxn).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id = last + 1
		if err := setPositions(ctx, tx, asID, map[string]int64{StreamTxn: id}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO appservice_txns (as_id, txn_id, body, events, created_ts)
			VALUES ($1, $2, $3, $4, $5)`, asID, id, string(body), events, s.now().UnixMilli()); err != nil {
			return err
		}
		return setPositions(ctx, tx, asID, positions)
	})
	return id, err
}

// SetPositions stores stream positions reached without a transaction to
// send (nothing of interest in between). Positions only move forward.
func (s *Store) SetPositions(ctx context.Context, asID string, positions map[string]int64) error {
	if len(positions) == 0 {
		return nil
	}
	return s.db.WithTx(ctx, func(tx *sql.Tx) error { return setPositions(ctx, tx, asID, positions) })
}

func setPositions(ctx context.Context, tx *sql.Tx, asID string, positions map[string]int64) error {
	// A fixed order keeps two writers' row locks in one order on
	// PostgreSQL.
	streams := make([]string, 0, len(positions))
	for st := range positions {
		streams = append(streams, st)
	}
	sort.Strings(streams)
	for _, st := range streams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO appservice_positions (as_id, stream, pos) VALUES ($1, $2, $3)
			ON CONFLICT (as_id, stream) DO UPDATE SET pos = excluded.pos
			WHERE appservice_positions.pos < excluded.pos`, asID, st, positions[st]); err != nil {
			return err
		}
	}
	return nil
}

// Pending returns the appservice's oldest unacknowledged transaction, or
// ErrNotFound.
func (s *Store) Pending(ctx context.Context, asID string) (*Txn, error) {
	t := Txn{ASID: asID}
	var body string
	err := s.db.Read.QueryRowContext(ctx, `SELECT txn_id, body, events FROM appservice_txns
		WHERE as_id = $1 ORDER BY txn_id LIMIT 1`, asID).Scan(&t.ID, &body, &t.Events)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	t.Body = []byte(body)
	return &t, nil
}

// PendingCount is how many transactions wait for the appservice.
func (s *Store) PendingCount(ctx context.Context, asID string) (int, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM appservice_txns WHERE as_id = $1`, asID).Scan(&n)
	return n, err
}

// Ack deletes a transaction the appservice accepted.
func (s *Store) Ack(ctx context.Context, asID string, txnID int64) error {
	_, err := s.db.Write.ExecContext(ctx, `DELETE FROM appservice_txns WHERE as_id = $1 AND txn_id = $2`, asID, txnID)
	return err
}
