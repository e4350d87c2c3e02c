package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// txAttempts bounds how often WithTx runs fn when the database reports
// contention. Contention here is rare (SQLite: another process holding the
// lock past busy_timeout; PostgreSQL: a serialization failure or deadlock),
// so a few attempts with a short backoff are plenty.
const txAttempts = 5

// WithTx runs fn in a read-write transaction on the writer and commits it if
// fn returns nil; otherwise, or if fn panics, it rolls back and returns fn's
// error unchanged (so callers can errors.Is/As their own errors).
//
// If the database reports contention that a retry can fix (SQLITE_BUSY,
// PostgreSQL serialization failure or deadlock), the whole transaction is
// rolled back and fn runs again, up to a few times. fn must therefore have
// no effects outside tx that would be wrong to repeat; do notifications and
// the like after WithTx returns.
//
// On SQLite the writer has one connection: inside fn use only tx (see DB).
func (db *DB) WithTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.withRetry(ctx, db.Write, nil, fn)
}

// WithReadTx runs fn in a read-only transaction on the reader pool, so that
// several queries see one consistent snapshot of the database (for example
// the positions of several streams). The transaction is always rolled back;
// fn's error is returned unchanged. On PostgreSQL the snapshot comes from
// REPEATABLE READ isolation; on SQLite from the WAL read transaction.
func (db *DB) WithReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return db.withRetry(ctx, db.Read, opts, fn)
}

func (db *DB) withRetry(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, pool, opts, fn)
		if err == nil || attempt == txAttempts || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		// Jitter keeps two retrying writers from colliding again in step.
		wait := backoff/2 + rand.N(backoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func runTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) (err error) {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqldb: begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn panicked. Roll back before the panic continues, or the
			// connection (on SQLite, the only writer) stays checked out
			// inside an open transaction for good.
			_ = tx.Rollback()
		}
	}()
	err = fn(tx)
	if err != nil || (opts != nil && opts.ReadOnly) {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	return nil
}
