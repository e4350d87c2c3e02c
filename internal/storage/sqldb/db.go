package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Config says which database to open and how large its pools may grow.
type Config struct {
	Dialect Dialect

	// SQLitePath is the database file (created if missing; its directory
	// must exist). The WAL and shared-memory files live next to it.
	SQLitePath string

	// PostgresDSN is a libpq-style connection string, either a URL
	// ("postgres://user:pass@host:5432/db?sslmode=disable") or keyword/value
	// pairs ("host=/run/postgresql dbname=myelin"). PostgresDSNFromArgs
	// builds one from Synapse-style database args.
	PostgresDSN string

	// MaxOpenConns bounds the reader pool on SQLite and the one shared pool
	// on PostgreSQL; MaxIdleConns is how many of those stay open when idle.
	// Zero picks a default (max(4, NumCPU) readers on SQLite, 10 on
	// PostgreSQL; idle defaults to MaxOpenConns). The SQLite writer always
	// has exactly one connection.
	MaxOpenConns int
	MaxIdleConns int
}

// Querier is what *sql.DB, *sql.Tx and *sql.Conn have in common. Store
// helpers that should work both inside a caller's transaction and on their
// own take a Querier, so one function serves both.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DB is an open database: a writer pool, a reader pool and the dialect that
// tells queries how to spell the few things that differ.
//
// SQLite allows one writer at a time, and a second in-process writer would
// only wait on busy_timeout, so on SQLite Write has exactly one connection
// and Read is a separate pool of read-only (PRAGMA query_only) connections
// that, thanks to WAL, never block on the writer. On PostgreSQL both fields
// are the same pool.
//
// Consequently, on SQLite, code running inside WithTx must use only the
// *sql.Tx it was given: using db.Write (or calling WithTx again) waits for
// the writer's only connection, which the running transaction holds, until
// ctx ends. Reading through db.Read inside a write transaction is fine but
// does not see the transaction's uncommitted rows.
//
// Write and Read are fields for readability at call sites; do not reassign
// them.
type DB struct {
	// Write runs statements that modify data. Prefer WithTx for anything
	// that is more than one statement.
	Write *sql.DB
	// Read runs queries that only read. On SQLite it rejects writes.
	Read *sql.DB

	dialect Dialect
	cfg     Config
}

// Dialect reports which SQL engine db talks to.
func (db *DB) Dialect() Dialect { return db.dialect }

// Config returns the configuration db was opened with, e.g. for opening a
// second handle on the same database in tests.
func (db *DB) Config() Config { return db.cfg }

// Expand is shorthand for db.Dialect().Expand(query).
func (db *DB) Expand(query string) string { return db.dialect.Expand(query) }

// Close closes both pools.
func (db *DB) Close() error {
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// Open connects to the database cfg describes and checks that it answers.
// It does not run migrations; call Migrate for each domain afterwards.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.MaxOpenConns < 0 || cfg.MaxIdleConns < 0 {
		return nil, errors.New("sqldb: MaxOpenConns and MaxIdleConns must not be negative")
	}
	switch cfg.Dialect {
	case SQLite:
		return openSQLite(ctx, cfg)
	case Postgres:
		return openPostgres(ctx, cfg)
	case 0:
		return nil, errors.New("sqldb: Config.Dialect is not set")
	default:
		return nil, fmt.Errorf("sqldb: unknown dialect %v", cfg.Dialect)
	}
}

// sqliteBusyTimeoutMS is how long a connection waits for another process's
// lock before failing with SQLITE_BUSY (which WithTx then retries). Within
// this process the single writer connection means writers queue in
// database/sql instead.
const sqliteBusyTimeoutMS = 10000

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	path := cfg.SQLitePath
	switch {
	case path == "":
		return nil, errors.New("sqldb: SQLitePath is empty")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// The reader and writer pools must share one file; an in-memory or
		// URI name would give each connection its own database or bypass
		// the settings below.
		return nil, fmt.Errorf("sqldb: SQLitePath %q must be a plain file path", path)
	case strings.ContainsRune(path, '?'):
		// The driver splits a plain path at '?' to read its parameters.
		return nil, fmt.Errorf("sqldb: SQLitePath %q must not contain '?'", path)
	}

	// Pragmas are set through the DSN so that every connection the pools
	// ever open gets them, not just the first.
	//
	// synchronous=FULL: in WAL mode NORMAL survives a process crash but can
	// lose the last commits on power loss, and a 200 on a send must mean the
	// event is durable. FULL costs one fsync of the WAL per commit.
	//
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so it can never fail halfway with SQLITE_BUSY when upgrading from a
	// read lock (which busy_timeout cannot fix).
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeoutMS))
	common.Set("_foreign_keys", "on")

	wq := cloneValues(common)
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", "FULL")
	wq.Set("_txlock", "immediate")
	drv, err := sqliteDriver()
	if err != nil {
		return nil, err
	}
	write := sql.OpenDB(&stmtCacheConnector{dsn: path + "?" + wq.Encode(), drv: drv, size: stmtCacheSize})
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// The writer connects first so that the file exists and is in WAL mode
	// (a persistent property of the file) before any reader opens it.
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		write.Close()
		return nil, fmt.Errorf("sqldb: sqlite %s: journal_mode is %q, not wal (WAL needs a local filesystem)", path, mode)
	}

	rq := cloneValues(common)
	rq.Set("_query_only", "on")
	read := sql.OpenDB(&stmtCacheConnector{dsn: path + "?" + rq.Encode(), drv: drv, size: stmtCacheSize})
	maxOpen := cfg.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = max(4, runtime.NumCPU())
	}
	read.SetMaxOpenConns(maxOpen)
	read.SetMaxIdleConns(idleOrDefault(cfg.MaxIdleConns, maxOpen))
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqldb: open sqlite readers %s: %w", path, err)
	}
	return &DB{Write: write, Read: read, dialect: SQLite, cfg: cfg}, nil
}

// sqliteDriver is the driver modernc.org/sqlite registers, which
// stmtCacheConnector wraps.
func sqliteDriver() (driver.Driver, error) {
	probe, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite driver: %w", err)
	}
	defer probe.Close()
	return probe.Driver(), nil
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.PostgresDSN == "" {
		return nil, errors.New("sqldb: PostgresDSN is empty")
	}
	// ParseConfig validates the DSN up front with a clear error (and
	// redacts the password in it), rather than on the first query.
	pc, err := pgx.ParseConfig(cfg.PostgresDSN)
	if err != nil {
		return nil, fmt.Errorf("sqldb: postgres DSN: %w", err)
	}
	if pc.RuntimeParams["application_name"] == "" {
		// Lets operators tell Myelin's sessions apart in pg_stat_activity.
		pc.RuntimeParams["application_name"] = "myelin"
	}
	pool := stdlib.OpenDB(*pc)
	maxOpen := cfg.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = 10
	}
	pool.SetMaxOpenConns(maxOpen)
	pool.SetMaxIdleConns(idleOrDefault(cfg.MaxIdleConns, maxOpen))

	var encoding string
	if err := pool.QueryRowContext(ctx, "SHOW server_encoding").Scan(&encoding); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqldb: connect to postgres: %w", err)
	}
	// Matrix content is Unicode text; a database in another encoding would
	// reject or mangle it. Synapse refuses such databases too.
	if !strings.EqualFold(encoding, "UTF8") {
		pool.Close()
		return nil, fmt.Errorf("sqldb: postgres database encoding is %s, want UTF8 (create it with ENCODING 'UTF8')", encoding)
	}
	return &DB{Write: pool, Read: pool, dialect: Postgres, cfg: cfg}, nil
}

func idleOrDefault(idle, maxOpen int) int {
	if idle == 0 || idle > maxOpen {
		return maxOpen
	}
	return idle
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
