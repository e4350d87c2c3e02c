package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Migration is one versioned step of a domain's schema.
//
// Each domain (accounts, events, ...) keeps its own ordered list and passes
// it to Migrate at start-up. Versions start at 1 and only ever grow: a
// released migration is never edited, renumbered or removed; changes go in a
// new one appended to the list.
type Migration struct {
	// Version orders the migrations of one domain: 1, 2, 3, ...
	Version int
	// Name says what the step does, e.g. "create accounts table". It is
	// recorded in schema_versions for people reading the database.
	Name string
	// SQL is run first, as one script that may hold several statements
	// separated by semicolons. {{tokens}} are expanded for the dialect (see
	// Dialect.Expand), so one text serves both backends. May be empty if
	// Func does all the work.
	SQL string
	// Func, if set, runs after SQL in the same transaction, for steps that
	// need code: data backfills, or DDL that truly differs by dialect.
	Func func(ctx context.Context, tx *sql.Tx, d Dialect) error
}

// schemaVersionsDDL records which migrations have run. One table serves all
// domains, so a new domain needs no bootstrap of its own.
const schemaVersionsDDL = `CREATE TABLE IF NOT EXISTS schema_versions (
	domain     TEXT   NOT NULL,
	version    BIGINT NOT NULL,
	name       TEXT   NOT NULL,
	applied_ts BIGINT NOT NULL,
	PRIMARY KEY (domain, version)
)`

// migrationLockKey is the PostgreSQL advisory lock that serializes
// migrations across processes starting at once: the ASCII bytes of "myelin".
// It is taken per transaction (pg_advisory_xact_lock), so a crashed process
// can never leave it held.
const migrationLockKey int64 = 0x6d79656c696e

// Migrate brings domain's tables up to date: it runs, in version order, each
// migration in migrations that schema_versions does not yet list for
// domain, each in its own transaction together with its schema_versions
// row. Re-running it is a no-op, and several processes may run it at once:
// on PostgreSQL an advisory lock serializes them, on SQLite the write lock
// does, and each re-checks schema_versions under the lock.
//
// It refuses to run when the database records a version of domain that
// migrations does not contain (the database was used by a newer Myelin, or
// a released migration was removed), or when a migration would be applied
// below an already applied version (one was inserted rather than appended).
func Migrate(ctx context.Context, db *DB, domain string, migrations []Migration) error {
	if domain == "" {
		return errors.New("sqldb: migrate: empty domain name")
	}
	if err := checkMigrations(migrations); err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
	}
	if err := db.WithTx(ctx, func(tx *sql.Tx) error {
		if err := lockMigrations(ctx, tx, db.dialect); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, schemaVersionsDDL)
		return err
	}); err != nil {
		return fmt.Errorf("sqldb: migrate: create schema_versions: %w", err)
	}

	applied, err := appliedVersions(ctx, db.Write, domain)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", domain, err)
	}
	known := make(map[int]bool, len(migrations))
	for _, m := range migrations {
		known[m.Version] = true
	}
	maxApplied := 0
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("sqldb: migrate %s: database has schema version %d, which this build does not know; was it used by a newer Myelin?", domain, v)
		}
		maxApplied = max(maxApplied, v)
	}

	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		if m.Version < maxApplied {
			return fmt.Errorf("sqldb: migrate %s: migration %d (%s) is not applied but later version %d is; migrations must only be appended", domain, m.Version, m.Name, maxApplied)
		}
		if err := db.WithTx(ctx, func(tx *sql.Tx) error {
			return applyMigration(ctx, tx, db.dialect, domain, m)
		}); err != nil {
			return fmt.Errorf("sqldb: migrate %s to version %d (%s): %w", domain, m.Version, m.Name, err)
		}
		maxApplied = m.Version
	}
	return nil
}

// applyMigration runs m unless another process applied it first.
func applyMigration(ctx context.Context, tx *sql.Tx, d Dialect, domain string, m Migration) error {
	if err := lockMigrations(ctx, tx, d); err != nil {
		return err
	}
	var exists int
	err := tx.QueryRowContext(ctx,
		`SELECT 1 FROM schema_versions WHERE domain = $1 AND version = $2`,
		domain, m.Version).Scan(&exists)
	switch {
	case err == nil:
		return nil // applied concurrently by another process
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if m.SQL != "" {
		if _, err := tx.ExecContext(ctx, d.Expand(m.SQL)); err != nil {
			return err
		}
	}
	if m.Func != nil {
		if err := m.Func(ctx, tx, d); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO schema_versions (domain, version, name, applied_ts) VALUES ($1, $2, $3, $4)`,
		domain, m.Version, m.Name, time.Now().UnixMilli())
	return err
}

// lockMigrations serializes migrating processes on PostgreSQL until tx ends.
// SQLite needs nothing: WithTx's transactions take the database's write
// lock at BEGIN.
func lockMigrations(ctx context.Context, tx *sql.Tx, d Dialect) error {
	if d != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey)
	return err
}

func appliedVersions(ctx context.Context, q Querier, domain string) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_versions WHERE domain = $1`, domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := make(map[int]bool)
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// checkMigrations rejects lists that cannot be applied deterministically.
func checkMigrations(ms []Migration) error {
	prev := 0
	for i, m := range ms {
		switch {
		case m.Version <= prev:
			return fmt.Errorf("migration #%d has version %d; versions must be positive and strictly increasing", i, m.Version)
		case m.Name == "":
			return fmt.Errorf("migration %d has no name", m.Version)
		case m.SQL == "" && m.Func == nil:
			return fmt.Errorf("migration %d (%s) has neither SQL nor Func", m.Version, m.Name)
		}
		prev = m.Version
	}
	return nil
}
