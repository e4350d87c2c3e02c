package sqldb

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// A second process that finds SQLite's write lock taken gets SQLITE_BUSY once
// its busy_timeout expires; WithTx must treat that as worth a retry.
func TestIsRetryable_SQLiteBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	db, err := Open(ctx, Config{Dialect: SQLite, SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	holder, err := db.Write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()

	// No busy_timeout, so the second writer fails at once instead of waiting.
	other, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil)
	if err == nil {
		tx.Rollback()
		t.Fatal("second BEGIN IMMEDIATE succeeded while the write lock was held")
	}
	if !isRetryable(err) {
		t.Errorf("isRetryable(%v) = false, want true", err)
	}
	if IsUniqueViolation(err) {
		t.Errorf("IsUniqueViolation(%v) = true", err)
	}
}
