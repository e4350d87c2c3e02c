package sqldb_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// These tests pin down the package's promise that one query text serves
// both backends: each runs the same SQL on SQLite and PostgreSQL.

func TestSharedSQL_DollarParametersMayRepeatAndReorder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		var a, b, c string
		err := db.Read.QueryRow("SELECT CAST($2 AS TEXT), CAST($1 AS TEXT), CAST($2 AS TEXT)", "one", "two").Scan(&a, &b, &c)
		if err != nil {
			t.Fatal(err)
		}
		if a != "two" || b != "one" || c != "two" {
			t.Errorf("got %q %q %q, want two one two", a, b, c)
		}
	})
}

func TestSharedSQL_UpsertUpdatesExistingRow(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		mustExec(t, db, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, pos BIGINT NOT NULL)")
		// The position only moves forward: {{greatest}} keeps the larger.
		upsert := db.Expand(`INSERT INTO kv (k, v, pos) VALUES ($1, $2, $3)
			ON CONFLICT (k) DO UPDATE SET v = excluded.v, pos = {{greatest}}(kv.pos, excluded.pos)`)
		for _, row := range []struct {
			v   string
			pos int64
		}{{"a", 5}, {"b", 3}} {
			if _, err := db.Write.Exec(upsert, "key", row.v, row.pos); err != nil {
				t.Fatal(err)
			}
		}
		var v string
		var pos int64
		if err := db.Read.QueryRow("SELECT v, pos FROM kv WHERE k = $1", "key").Scan(&v, &pos); err != nil {
			t.Fatal(err)
		}
		if v != "b" || pos != 5 {
			t.Errorf("after two upserts got (%q, %d), want (b, 5)", v, pos)
		}
		if n := count(t, db.Read, "kv"); n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
		// ON CONFLICT DO NOTHING affects no row.
		res, err := db.Write.Exec("INSERT INTO kv (k, v, pos) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", "key", "c", 9)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 0 {
			t.Errorf("DO NOTHING affected %d rows, want 0", n)
		}
	})
}

func TestSharedSQL_ReturningGivesSerialKeys(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		mustExec(t, db, "CREATE TABLE ev (pos {{serial_pk}}, body TEXT NOT NULL)")
		var prev int64
		for i := range 3 {
			var pos int64
			err := db.Write.QueryRow("INSERT INTO ev (body) VALUES ($1) RETURNING pos", fmt.Sprint(i)).Scan(&pos)
			if err != nil {
				t.Fatal(err)
			}
			if pos <= prev {
				t.Errorf("serial key %d after %d, want increasing", pos, prev)
			}
			prev = pos
		}
	})
}

func TestSharedSQL_ConstraintViolationsAreRecognised(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		mustExec(t, db,
			"CREATE TABLE rooms (room_id TEXT PRIMARY KEY)",
			"CREATE TABLE aliases (alias TEXT NOT NULL UNIQUE, room_id TEXT NOT NULL REFERENCES rooms(room_id))",
			"INSERT INTO rooms (room_id) VALUES ('!r')",
			"INSERT INTO aliases (alias, room_id) VALUES ('#a', '!r')")

		_, errPK := db.Write.Exec("INSERT INTO rooms (room_id) VALUES ('!r')")
		_, errUnique := db.Write.Exec("INSERT INTO aliases (alias, room_id) VALUES ('#a', '!r')")
		_, errFK := db.Write.Exec("INSERT INTO aliases (alias, room_id) VALUES ('#b', '!missing')")
		_, errSyntax := db.Write.Exec("INSERT INTO nowhere VALUES (1)")

		tests := []struct {
			name             string
			err              error
			unique, foreignK bool
		}{
			{"duplicate primary key", errPK, true, false},
			{"duplicate unique column", errUnique, true, false},
			{"missing referenced row", errFK, false, true},
			{"other error", errSyntax, false, false},
			{"wrapped duplicate", fmt.Errorf("store: %w", errPK), true, false},
			{"nil", nil, false, false},
		}
		for _, tt := range tests {
			if got := sqldb.IsUniqueViolation(tt.err); got != tt.unique {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tt.name, tt.err, got, tt.unique)
			}
			if got := sqldb.IsForeignKeyViolation(tt.err); got != tt.foreignK {
				t.Errorf("%s: IsForeignKeyViolation(%v) = %v, want %v", tt.name, tt.err, got, tt.foreignK)
			}
		}
	})
}

func TestSharedSQL_BooleansAndBytesRoundTrip(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		mustExec(t, db, "CREATE TABLE m (id BIGINT PRIMARY KEY, flag BOOLEAN NOT NULL, blob {{bytes}})")
		data := []byte{0, 1, 2, 0xff}
		if _, err := db.Write.Exec("INSERT INTO m (id, flag, blob) VALUES ($1, $2, $3), ($4, $5, NULL)", 1, true, data, 2, false); err != nil {
			t.Fatal(err)
		}
		var flag bool
		var got []byte
		if err := db.Read.QueryRow("SELECT flag, blob FROM m WHERE id = 1").Scan(&flag, &got); err != nil {
			t.Fatal(err)
		}
		if !flag || !bytes.Equal(got, data) {
			t.Errorf("got (%v, %x), want (true, %x)", flag, got, data)
		}
		var ids []int64
		rows, err := db.Read.Query("SELECT id FROM m WHERE flag = FALSE AND blob IS NULL")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != 2 {
			t.Errorf("WHERE flag = FALSE matched %v, want [2]", ids)
		}
	})
}

func TestSharedSQL_PlaceholdersInList(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		mustExec(t, db, "CREATE TABLE u (id TEXT PRIMARY KEY, kind TEXT NOT NULL)",
			"INSERT INTO u (id, kind) VALUES ('a', 'x'), ('b', 'x'), ('c', 'y'), ('d', 'x')")
		want := []any{"a", "c", "d"}
		q := "SELECT COUNT(*) FROM u WHERE kind = $1 AND id IN (" + sqldb.Placeholders(2, len(want)) + ")"
		var n int
		if err := db.Read.QueryRow(q, append([]any{"x"}, want...)...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("count = %d, want 2 (a and d)", n)
		}
	})
}

func TestSharedSQL_UnknownTokenFailsAsSQLError(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if _, err := db.Write.Exec(db.Expand("CREATE TABLE t (x {{no_such_token}})")); err == nil {
			t.Error("a query with an unknown token ran; want a syntax error")
		}
	})
}

// WithTx runs fn again when the database asks for a retry (here simulated
// with PostgreSQL's serialization_failure, SQLSTATE 40001), and rolls back
// the failed attempt's writes.
func TestWithTx_RetriesSerializationFailures(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE t (x BIGINT)")
		attempts := 0
		err := db.WithTx(ctx, func(tx *sql.Tx) error {
			attempts++
			if _, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES ($1)", attempts); err != nil {
				return err
			}
			if attempts < 3 {
				return fmt.Errorf("simulated: %w", &pgconn.PgError{Code: "40001"})
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithTx = %v", err)
		}
		if attempts != 3 {
			t.Errorf("fn ran %d times, want 3", attempts)
		}
		var x int
		if err := db.Read.QueryRow("SELECT x FROM t").Scan(&x); err != nil {
			t.Fatal(err)
		}
		if x != 3 {
			t.Errorf("committed row is from attempt %d, want 3 (earlier attempts rolled back)", x)
		}
	})
}

func TestWithTx_GivesUpAfterRepeatedFailures(t *testing.T) {
	db := storagetest.NewSQLite(t)
	attempts := 0
	err := db.WithTx(context.Background(), func(*sql.Tx) error {
		attempts++
		return &pgconn.PgError{Code: "40P01"}
	})
	if !sqldbIsCode(err, "40P01") || attempts < 2 || attempts > 10 {
		t.Errorf("WithTx = %v after %d attempts; want the deadlock error after a bounded number of retries", err, attempts)
	}
}

func sqldbIsCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
