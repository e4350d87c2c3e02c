package storagetest

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

func TestWithDatabase_BothDSNForms(t *testing.T) {
	dsns := []string{
		"postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable",
		"postgresql://u:p%40ss@localhost/other",
		"host=/tmp/sock port=5433 user=postgres dbname=postgres sslmode=disable",
		"host=/tmp/sock user=postgres",
	}
	for _, dsn := range dsns {
		got, err := withDatabase(dsn, "myelin_test_ab12")
		if err != nil {
			t.Errorf("withDatabase(%q): %v", dsn, err)
			continue
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil {
			t.Errorf("withDatabase(%q) = %q, which pgx rejects: %v", dsn, got, err)
			continue
		}
		if cfg.Database != "myelin_test_ab12" {
			t.Errorf("withDatabase(%q) = %q selects database %q", dsn, got, cfg.Database)
		}
	}
}

func TestForEachBackend_NamesSubtestsByBackend(t *testing.T) {
	var seen []sqldb.Dialect
	ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		seen = append(seen, db.Dialect())
		want := map[string]sqldb.Dialect{"sqlite": sqldb.SQLite, "postgres": sqldb.Postgres}
		name := t.Name()[len("TestForEachBackend_NamesSubtestsByBackend/"):]
		if want[name] != db.Dialect() {
			t.Errorf("subtest %q got a %v database", name, db.Dialect())
		}
	})
	if len(seen) == 0 || seen[0] != sqldb.SQLite {
		t.Errorf("backends run: %v, want SQLite first", seen)
	}
}
