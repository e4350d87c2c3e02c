package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection
)

// createPostgresDB creates a fresh database on the server adminDSN names,
// drops it when the test ends, and returns a DSN for it.
func createPostgresDB(t testing.TB, adminDSN string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "myelin_e2e_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		t.Fatalf("MYELIN_TEST_POSTGRES: %v", err)
	}
	defer admin.Close()
	// template0 with the C locale: the same text ordering whatever the
	// cluster's default, as the storage tests use.
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(
		`CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`, name)); err != nil {
		t.Fatalf("creating database %s via MYELIN_TEST_POSTGRES: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", adminDSN)
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer admin.Close()
		// FORCE ends the sessions of a server that could not be stopped.
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(adminDSN, name)
	if err != nil {
		t.Fatalf("MYELIN_TEST_POSTGRES: %v", err)
	}
	return dsn
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
