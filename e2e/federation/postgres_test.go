package fede2e

import (
	"os"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Servers use SQLite unless MYELIN_FEDE2E_BACKEND=postgres, when each gets
// a fresh database on the PostgreSQL server MYELIN_TEST_POSTGRES names
// (./scripts/test.sh starts one), dropped when the test ends.
func postgresDSN(t testing.TB) string {
	t.Helper()
	if os.Getenv("MYELIN_FEDE2E_BACKEND") != "postgres" {
		return ""
	}
	admin := os.Getenv("MYELIN_TEST_POSTGRES")
	if admin == "" {
		t.Fatal("MYELIN_FEDE2E_BACKEND=postgres needs MYELIN_TEST_POSTGRES (a DSN for a role that may CREATE DATABASE)")
	}
	return createPostgresDB(t, admin)
}

// createPostgresDB creates a database, drops it when the test ends, and
// returns a DSN for it.
func createPostgresDB(t testing.TB, adminDSN string) string {
	t.Helper()
	return storagetest.CreatePostgresDatabase(t, adminDSN)
}
