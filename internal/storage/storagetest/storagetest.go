// Package storagetest gives store tests a fresh database on every backend,
// so that each domain's test suite runs unchanged on SQLite and PostgreSQL
// (docs/testing.md, "Storage").
//
// SQLite needs nothing: each test gets a file in its t.TempDir(). PostgreSQL
// is found through the environment:
//
//	MYELIN_TEST_POSTGRES     a DSN for a role that may CREATE DATABASE, e.g.
//	                         postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable
//	MYELIN_REQUIRE_POSTGRES  "1" turns "PostgreSQL unavailable" from a skip
//	                         into a failure (scripts/test.sh and CI set it)
//
// Each PostgreSQL test gets its own database, created with a random name and
// dropped when the test ends, so tests may run in parallel.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Environment variables read by this package.
const (
	EnvPostgres        = "MYELIN_TEST_POSTGRES"
	EnvRequirePostgres = "MYELIN_REQUIRE_POSTGRES"
)

// ForEachBackend runs fn as a subtest on a fresh SQLite database in
// t.TempDir() ("sqlite") and on a fresh PostgreSQL database ("postgres").
// Without MYELIN_TEST_POSTGRES the postgres subtest is skipped, or fails if
// MYELIN_REQUIRE_POSTGRES=1.
func ForEachBackend(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, NewPostgres(t)) })
}

// ForEachBackendB is ForEachBackend for benchmarks.
func ForEachBackendB(b *testing.B, fn func(b *testing.B, db *sqldb.DB)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { fn(b, NewSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, NewPostgres(b)) })
}

// NewSQLite opens a fresh SQLite database in t.TempDir(), closed when the
// test ends.
func NewSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	return open(t, sqldb.Config{
		Dialect:    sqldb.SQLite,
		SQLitePath: filepath.Join(t.TempDir(), "myelin.db"),
	})
}

// NewPostgres creates a fresh PostgreSQL database, opens it and drops it
// when the test ends. It skips the test when PostgreSQL is not configured
// (or fails it, under MYELIN_REQUIRE_POSTGRES=1).
func NewPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	adminDSN := os.Getenv(EnvPostgres)
	if adminDSN == "" {
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(EnvRequirePostgres + "=1 but " + EnvPostgres + " is not set: no PostgreSQL to test on")
		}
		t.Skip(EnvPostgres + " is not set; skipping the PostgreSQL backend (./scripts/test.sh starts a throwaway server)")
	}

	dsn := CreatePostgresDatabase(t, adminDSN)
	// Registered after the drop, so it runs before it (cleanups are LIFO).
	return open(t, sqldb.Config{Dialect: sqldb.Postgres, PostgresDSN: dsn, MaxOpenConns: 8})
}

// CreatePostgresDatabase creates a fresh database (UTF8, C locale) on the
// server adminDSN names, drops it when the test ends, and returns a DSN for
// it. Tests that run whole server processes use it to give each its own
// database.
func CreatePostgresDatabase(t testing.TB, adminDSN string) string {
	t.Helper()
	name := "myelin_test_" + randomHex(t, 8)
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatalf("storagetest: %s: %v", EnvPostgres, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// template0 with an explicit C locale gives every test the same,
	// locale-independent text ordering whatever the cluster default is.
	create := fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`, name)
	if _, err := admin.ExecContext(ctx, create); err != nil {
		t.Fatalf("storagetest: create test database via %s: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", adminDSN)
		if err != nil {
			t.Errorf("storagetest: drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		// FORCE ends sessions a test leaked instead of failing the drop.
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("storagetest: drop %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		t.Fatalf("storagetest: %s: %v", EnvPostgres, err)
	}
	return dsn
}

func open(t testing.TB, cfg sqldb.Config) *sqldb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqldb.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("storagetest: open %v database: %v", cfg.Dialect, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storagetest: close %v database: %v", cfg.Dialect, err)
		}
	})
	return db
}

// withDatabase points a DSN, in URL or keyword/value form, at database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In keyword/value form a later keyword overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
