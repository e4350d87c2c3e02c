package server_test

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// failWrites makes every op (INSERT, UPDATE or DELETE) on table fail, as a
// crash at that point would end the request: a trigger, in each backend's
// dialect. dropFailure removes it.
func failWrites(t *testing.T, db *sqldb.DB, op, table string) {
	t.Helper()
	name := "fail_" + op + "_" + table
	ddl := []string{`CREATE TRIGGER ` + name + ` BEFORE ` + op + ` ON ` + table + ` BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}
	if db.Dialect() == sqldb.Postgres {
		ddl = []string{
			`CREATE OR REPLACE FUNCTION fail_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			`CREATE TRIGGER ` + name + ` BEFORE ` + op + ` ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION fail_write()`,
		}
	}
	for _, q := range ddl {
		if _, err := db.Write.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// dropFailure removes what failWrites installed.
func dropFailure(t *testing.T, db *sqldb.DB, op, table string) {
	t.Helper()
	q := `DROP TRIGGER fail_` + op + `_` + table
	if db.Dialect() == sqldb.Postgres {
		q += ` ON ` + table
	}
	if _, err := db.Write.ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// countRows counts the rows of table whose column is value.
func countRows(t *testing.T, db *sqldb.DB, table, column, value string) int {
	t.Helper()
	var n int
	if err := db.Read.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE `+column+` = $1`, value).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
