package sqldb

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// PostgreSQL SQLSTATE codes (PostgreSQL manual, appendix A "Error Codes").
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// IsUniqueViolation reports whether err (or an error it wraps) is a UNIQUE or
// PRIMARY KEY constraint violation on either backend. Stores use it to turn
// "INSERT of a row that already exists" into their own typed error, e.g.
// "user ID already taken".
func IsUniqueViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		// The driver turns on extended result codes, so the constraint kind
		// is visible in the code itself.
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return pgState(err) == pgUniqueViolation
}

// IsForeignKeyViolation reports whether err (or an error it wraps) is a
// FOREIGN KEY constraint violation on either backend.
func IsForeignKeyViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return pgState(err) == pgForeignKeyViolation
}

// isRetryable reports whether a transaction that failed with err may succeed
// if run again from the start: lock contention on SQLite (another process
// holding the write lock longer than busy_timeout), and serialization
// failures or deadlocks on PostgreSQL, where the server itself asks the
// client to retry.
func isRetryable(err error) bool {
	if code, ok := sqliteCode(err); ok {
		primary := code & 0xff
		return primary == sqlite3.SQLITE_BUSY || primary == sqlite3.SQLITE_LOCKED
	}
	switch pgState(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return false
}

func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func pgState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
