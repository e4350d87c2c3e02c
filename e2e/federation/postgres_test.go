package fede2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection
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
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "myelin_fede2e_" + hex.EncodeToString(b)
	exec := func(stmt string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", adminDSN)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, stmt)
		return err
	}
	// template0 with the C locale, as the storage tests use.
	if err := exec(fmt.Sprintf(`CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`, name)); err != nil {
		t.Fatalf("creating database %s via MYELIN_TEST_POSTGRES: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends the sessions of a server that could not be stopped.
		if err := exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	if strings.HasPrefix(adminDSN, "postgres://") || strings.HasPrefix(adminDSN, "postgresql://") {
		u, err := url.Parse(adminDSN)
		if err != nil {
			t.Fatalf("MYELIN_TEST_POSTGRES: %v", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String()
	}
	// In keyword/value form a later keyword overrides an earlier one.
	return adminDSN + " dbname=" + name
}
