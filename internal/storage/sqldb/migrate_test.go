package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// notesV1 and notesV2 are a small domain's history. Neither step is
// idempotent by itself (no IF NOT EXISTS, a plain INSERT), so running one
// twice fails loudly.
var notesV1 = sqldb.Migration{
	Version: 1,
	Name:    "create notes",
	SQL: `CREATE TABLE notes (id {{serial_pk}}, body TEXT NOT NULL, blob {{bytes}});
	      CREATE INDEX notes_body ON notes (body);
	      INSERT INTO notes (body) VALUES ('seed')`,
}

var notesV2 = sqldb.Migration{
	Version: 2,
	Name:    "add notes.pinned",
	SQL:     `ALTER TABLE notes ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE`,
}

func appliedVersions(t *testing.T, db *sqldb.DB, domain string) []int {
	t.Helper()
	rows, err := db.Read.Query(`SELECT version FROM schema_versions WHERE domain = $1 ORDER BY version`, domain)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMigrate_AppliesOnceAndReRunIsNoOp(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		var funcRuns atomic.Int32
		backfill := sqldb.Migration{
			Version: 3,
			Name:    "backfill pinned",
			Func: func(ctx context.Context, tx *sql.Tx, d sqldb.Dialect) error {
				funcRuns.Add(1)
				_, err := tx.ExecContext(ctx, `UPDATE notes SET pinned = TRUE WHERE body = $1`, "seed")
				return err
			},
		}
		list := []sqldb.Migration{notesV1, notesV2, backfill}
		for run := 1; run <= 3; run++ {
			if err := sqldb.Migrate(ctx, db, "notes", list); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
		if got := appliedVersions(t, db, "notes"); !equalInts(got, []int{1, 2, 3}) {
			t.Errorf("schema_versions for notes = %v, want [1 2 3]", got)
		}
		if n := count(t, db.Read, "notes"); n != 1 {
			t.Errorf("notes has %d rows, want the 1 seed row (migration ran more than once?)", n)
		}
		if n := funcRuns.Load(); n != 1 {
			t.Errorf("Func ran %d times, want 1", n)
		}
		var pinned bool
		if err := db.Read.QueryRow(`SELECT pinned FROM notes`).Scan(&pinned); err != nil || !pinned {
			t.Errorf("pinned = %v, %v; want true from the backfill", pinned, err)
		}
	})
}

func TestMigrate_AppendedMigrationAppliesAlone(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1}); err != nil {
			t.Fatal(err)
		}
		// The next release ships version 2; only it runs.
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, notesV2}); err != nil {
			t.Fatal(err)
		}
		if got := appliedVersions(t, db, "notes"); !equalInts(got, []int{1, 2}) {
			t.Errorf("schema_versions = %v, want [1 2]", got)
		}
		if _, err := db.Write.Exec(`INSERT INTO notes (body, pinned) VALUES ('x', TRUE)`); err != nil {
			t.Errorf("column from version 2 missing: %v", err)
		}
	})
}

func TestMigrate_DomainsAreIndependent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		other := []sqldb.Migration{{Version: 1, Name: "create tags", SQL: `CREATE TABLE tags (tag TEXT PRIMARY KEY)`}}
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1}); err != nil {
			t.Fatal(err)
		}
		if err := sqldb.Migrate(ctx, db, "tags", other); err != nil {
			t.Fatalf("version 1 of a second domain: %v", err)
		}
		if got := appliedVersions(t, db, "tags"); !equalInts(got, []int{1}) {
			t.Errorf("schema_versions for tags = %v, want [1]", got)
		}
	})
}

func TestMigrate_FailedStepLeavesNoTrace(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		broken := sqldb.Migration{Version: 2, Name: "half done", SQL: `CREATE TABLE half (x BIGINT); SELECT * FROM no_such_table`}
		err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, broken})
		if err == nil || !strings.Contains(err.Error(), "half done") {
			t.Fatalf("Migrate = %v, want an error naming the failed migration", err)
		}
		if got := appliedVersions(t, db, "notes"); !equalInts(got, []int{1}) {
			t.Errorf("schema_versions = %v, want [1]: the failed step must not be recorded", got)
		}
		if _, err := db.Read.Exec(`SELECT * FROM half`); err == nil {
			t.Error("table from the failed migration exists; its transaction was not rolled back")
		}
		// Fixed in the next build, it applies.
		fixed := sqldb.Migration{Version: 2, Name: "half done", SQL: `CREATE TABLE half (x BIGINT)`}
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, fixed}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrate_RefusesDatabaseFromNewerBuild(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, notesV2}); err != nil {
			t.Fatal(err)
		}
		err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1})
		if err == nil || !strings.Contains(err.Error(), "version 2") {
			t.Errorf("older build's Migrate = %v, want a refusal naming version 2", err)
		}
	})
}

func TestMigrate_RefusesInsertedMigration(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		v3 := sqldb.Migration{Version: 3, Name: "three", SQL: `CREATE TABLE three (x BIGINT)`}
		if err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, v3}); err != nil {
			t.Fatal(err)
		}
		err := sqldb.Migrate(ctx, db, "notes", []sqldb.Migration{notesV1, notesV2, v3})
		if err == nil || !strings.Contains(err.Error(), "appended") {
			t.Errorf("Migrate with version 2 inserted under applied 3 = %v, want a refusal", err)
		}
	})
}

func TestMigrate_RejectsMalformedLists(t *testing.T) {
	ok := func(context.Context, *sql.Tx, sqldb.Dialect) error { return nil }
	tests := []struct {
		name   string
		domain string
		list   []sqldb.Migration
	}{
		{"empty domain", "", []sqldb.Migration{notesV1}},
		{"version zero", "d", []sqldb.Migration{{Version: 0, Name: "x", SQL: "SELECT 1"}}},
		{"duplicate version", "d", []sqldb.Migration{notesV1, notesV1}},
		{"decreasing version", "d", []sqldb.Migration{notesV2, notesV1}},
		{"no name", "d", []sqldb.Migration{{Version: 1, SQL: "SELECT 1"}}},
		{"nothing to do", "d", []sqldb.Migration{{Version: 1, Name: "x"}}},
		{"second one empty", "d", []sqldb.Migration{{Version: 1, Name: "x", Func: ok}, {Version: 2, Name: "y"}}},
	}
	db := storagetest.NewSQLite(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sqldb.Migrate(context.Background(), db, tt.domain, tt.list); err == nil {
				t.Error("Migrate accepted a malformed list")
			}
		})
	}
	var n int
	err := db.Read.QueryRow(`SELECT COUNT(*) FROM schema_versions`).Scan(&n)
	if err == nil && n != 0 {
		t.Errorf("%d versions recorded from malformed lists, want 0", n)
	}
}

// Several processes starting at once against one database must apply each
// migration exactly once: the advisory lock (PostgreSQL) or write lock
// (SQLite) serializes them, and each re-checks schema_versions under it.
func TestMigrate_ConcurrentStartsApplyEachStepOnce(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		const processes = 6
		handles := make([]*sqldb.DB, processes)
		for i := range handles {
			h, err := sqldb.Open(ctx, db.Config())
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			handles[i] = h
		}
		list := []sqldb.Migration{notesV1, notesV2}
		var wg sync.WaitGroup
		errs := make([]error, processes)
		for i, h := range handles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = sqldb.Migrate(ctx, h, "notes", list)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got := appliedVersions(t, db, "notes"); !equalInts(got, []int{1, 2}) {
			t.Errorf("schema_versions = %v, want [1 2]", got)
		}
		if n := count(t, db.Read, "notes"); n != 1 {
			t.Errorf("notes has %d seed rows, want 1", n)
		}
	})
}
