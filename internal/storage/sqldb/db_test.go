package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// mustExec runs statements on the writer, failing the test on error.
func mustExec(t *testing.T, db *sqldb.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Write.ExecContext(context.Background(), db.Expand(s)); err != nil {
			t.Fatalf("exec %q: %v", s, err)
		}
	}
}

func count(t *testing.T, q sqldb.Querier, table string) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestOpen_ReportsDialectAndAnswers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if db.Dialect() != db.Config().Dialect {
			t.Errorf("Dialect() = %v, Config().Dialect = %v", db.Dialect(), db.Config().Dialect)
		}
		var one int
		if err := db.Read.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT 1 on reader = %d, %v", one, err)
		}
	})
}

// Durability: "a 200 on a send means the event is durable", so SQLite runs
// in WAL mode with synchronous=FULL, foreign keys enforced.
func TestOpen_SQLiteSettings(t *testing.T) {
	db := storagetest.NewSQLite(t)
	pragmas := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
	}
	for _, p := range pragmas {
		var got string
		if err := db.Write.QueryRow("PRAGMA " + p.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.pragma, err)
		}
		if !strings.EqualFold(got, p.want) {
			t.Errorf("PRAGMA %s = %q, want %q", p.pragma, got, p.want)
		}
	}
	var busy int
	if err := db.Read.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil || busy <= 0 {
		t.Errorf("reader busy_timeout = %d, %v; want > 0", busy, err)
	}
	if s := db.Write.Stats().MaxOpenConnections; s != 1 {
		t.Errorf("SQLite writer MaxOpenConnections = %d, want 1 (one writer)", s)
	}
}

func TestOpen_SQLiteReaderRejectsWrites(t *testing.T) {
	db := storagetest.NewSQLite(t)
	mustExec(t, db, "CREATE TABLE t (x BIGINT)")
	if _, err := db.Read.Exec("INSERT INTO t (x) VALUES (1)"); err == nil {
		t.Fatal("insert through the SQLite reader pool succeeded; readers must be query_only")
	}
}

func TestOpen_PostgresSharesOnePool(t *testing.T) {
	db := storagetest.NewPostgres(t)
	if db.Read != db.Write {
		t.Error("on PostgreSQL Read and Write should be the same pool")
	}
}

func TestOpen_RejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  sqldb.Config
	}{
		{"no dialect", sqldb.Config{SQLitePath: filepath.Join(dir, "a.db")}},
		{"unknown dialect", sqldb.Config{Dialect: 9}},
		{"sqlite without path", sqldb.Config{Dialect: sqldb.SQLite}},
		{"sqlite in memory", sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: ":memory:"}},
		{"sqlite URI", sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: "file:x.db?mode=memory"}},
		{"sqlite path with query", sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: filepath.Join(dir, "a.db?x=1")}},
		{"sqlite missing directory", sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: filepath.Join(dir, "no", "such", "a.db")}},
		{"negative pool", sqldb.Config{Dialect: sqldb.SQLite, SQLitePath: filepath.Join(dir, "b.db"), MaxOpenConns: -1}},
		{"postgres without DSN", sqldb.Config{Dialect: sqldb.Postgres}},
		{"postgres bad DSN", sqldb.Config{Dialect: sqldb.Postgres, PostgresDSN: "postgres://[::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.Open(context.Background(), tt.cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want error")
			}
		})
	}
}

func TestReader_SeesWritersCommittedData(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE t (x BIGINT)")
		err := db.WithTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES ($1), ($2)", 1, 2)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db.Read, "t"); n != 2 {
			t.Errorf("reader counts %d rows after commit, want 2", n)
		}
	})
}

func TestWithTx_RollsBackOnError(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE t (x BIGINT)")
		errStop := errors.New("stop")
		err := db.WithTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES (1)"); err != nil {
				return err
			}
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("WithTx = %v, want fn's error returned unchanged", err)
		}
		if n := count(t, db.Read, "t"); n != 0 {
			t.Errorf("%d rows after rolled-back tx, want 0", n)
		}
	})
}

func TestWithTx_RollsBackOnPanicAndWriterStaysUsable(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE t (x BIGINT)")
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic in fn did not propagate")
				}
			}()
			_ = db.WithTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES (1)"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		// On SQLite this would block forever if the panic had leaked the
		// single writer connection inside its transaction.
		mustExec(t, db, "INSERT INTO t (x) VALUES (2)")
		if n := count(t, db.Read, "t"); n != 1 {
			t.Errorf("%d rows, want 1 (the panicking tx rolled back)", n)
		}
	})
}

func TestWithTx_ConcurrentWritersAllCommit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db,
			"CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
			"INSERT INTO counter (id, n) VALUES (1, 0)")
		// A second handle on the same database stands in for a second
		// process, so SQLite's cross-process locking is exercised too.
		other, err := sqldb.Open(ctx, db.Config())
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()

		const perHandle = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2*perHandle)
		for _, h := range []*sqldb.DB{db, other} {
			for range perHandle {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- h.WithTx(ctx, func(tx *sql.Tx) error {
						var n int
						q := h.Expand("SELECT n FROM counter WHERE id = 1 {{for_update}}")
						if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, "UPDATE counter SET n = $1 WHERE id = 1", n+1)
						return err
					})
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.Read.QueryRow("SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2*perHandle {
			t.Errorf("counter = %d, want %d: a read-modify-write was lost", n, 2*perHandle)
		}
	})
}

func TestWithReadTx_SeesOneSnapshot(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE t (x BIGINT)", "INSERT INTO t (x) VALUES (1)")
		err := db.WithReadTx(ctx, func(tx *sql.Tx) error {
			before := count(t, tx, "t")
			mustExec(t, db, "INSERT INTO t (x) VALUES (2)")
			if after := count(t, tx, "t"); after != before {
				t.Errorf("read transaction saw %d rows, then %d: not one snapshot", before, after)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db.Read, "t"); n != 2 {
			t.Errorf("after the read tx, %d rows, want 2", n)
		}
	})
}
