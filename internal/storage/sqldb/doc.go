// Package sqldb is the storage foundation every domain store builds on: one
// database/sql handle over SQLite (modernc.org/sqlite, the embedded default)
// or PostgreSQL (pgx), versioned migrations, and the handful of helpers that
// let one set of queries serve both.
//
// # Writing queries once
//
// Every query is written once and runs on both backends. The conventions:
//
//   - Parameters are always $1, $2, ... (never ?). PostgreSQL requires them
//     and SQLite accepts them; a parameter may be repeated ($1 twice).
//     For IN lists of run-time length use Placeholders.
//   - Where the dialects differ, write a {{token}} (below) and pass the
//     query through DB.Expand; Migrate expands migration SQL itself.
//   - Integers: use BIGINT for every integer column. PostgreSQL's INTEGER
//     is 32-bit; SQLite's types are all 64-bit. Only {{serial_pk}} makes an
//     auto-assigned 64-bit key, because in SQLite only the exact spelling
//     "INTEGER PRIMARY KEY" aliases the rowid. Note that PostgreSQL hands
//     out sequence values at INSERT time, not in commit order, so a serial
//     column is not by itself a gap-free stream position.
//   - Timestamps: BIGINT milliseconds since the Unix epoch, as Matrix uses
//     them; the two engines' date types differ too much to share.
//   - Booleans: declare BOOLEAN and bind/scan Go bool; both work on both
//     backends, and TRUE/FALSE literals are valid in both. (SQLite stores
//     0/1, so scanning into any yields int64 there; scan into bool.)
//   - Text is TEXT; binary data is {{bytes}} bound from and scanned into
//     []byte.
//   - Upserts: INSERT ... ON CONFLICT (cols) DO UPDATE SET c = excluded.c,
//     or ON CONFLICT DO NOTHING, is the same text in both. (SQLite only: an
//     INSERT ... SELECT with an upsert needs a WHERE clause in the SELECT,
//     e.g. WHERE true, to parse.)
//   - Generated keys: use RETURNING, which both support. LastInsertId does
//     not work on PostgreSQL.
//   - Constraint errors: test with IsUniqueViolation and
//     IsForeignKeyViolation, never by matching messages.
//
// # Dialect tokens
//
// Dialect.Expand (or DB.Expand) replaces these; text without tokens passes
// through unchanged and without allocating:
//
//	token           SQLite                              PostgreSQL
//	{{serial_pk}}   INTEGER PRIMARY KEY AUTOINCREMENT   BIGSERIAL PRIMARY KEY
//	{{bytes}}       BLOB                                BYTEA
//	{{greatest}}    MAX                                 GREATEST   (two or more args)
//	{{least}}       MIN                                 LEAST
//	{{for_update}}  (nothing)                           FOR UPDATE
//	{{text_bytes}}  TEXT                                TEXT COLLATE "C"
//
// {{for_update}} ends a SELECT whose rows the transaction will then change:
// PostgreSQL must lock them, while SQLite's single writer already excludes
// other writers.
//
// {{text_bytes}} declares a text column that sorts by bytes (SQLite's
// default; PostgreSQL's default collation follows the locale), so that
// prefix searches can be index range scans: col >= $1 AND col < $2 with
// $2 = PrefixEnd($1).
//
// # Connections and transactions
//
// DB.Write and DB.Read are the writer and reader pools (the same pool on
// PostgreSQL; see DB for SQLite's single writer). Multi-statement writes go
// through DB.WithTx, which retries on contention; consistent multi-query
// reads through DB.WithReadTx. Functions that should work both inside a
// caller's transaction and alone take a Querier.
//
// # Migrations
//
// Each domain owns a []Migration and calls Migrate(ctx, db, "domain", list)
// at start-up, before serving. Applied versions are recorded in the
// schema_versions table; see Migrate for the guarantees.
package sqldb
