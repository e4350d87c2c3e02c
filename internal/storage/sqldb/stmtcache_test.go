package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// countingDriver counts the statements SQLite is asked to prepare.
type countingDriver struct {
	driver.Driver
	prepares atomic.Int64
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{innerConn: c.(innerConn), d: d}, nil
}

type countingConn struct {
	innerConn
	d *countingDriver
}

func (c *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.prepares.Add(1)
	return c.innerConn.PrepareContext(ctx, q)
}

// cachedDB opens one SQLite connection through the statement cache, keeping
// size statements, over a counting driver.
func cachedDB(t *testing.T, size int) (*sql.DB, *countingDriver) {
	t.Helper()
	drv, err := sqliteDriver()
	if err != nil {
		t.Fatal(err)
	}
	cd := &countingDriver{Driver: drv}
	db := sql.OpenDB(&stmtCacheConnector{dsn: filepath.Join(t.TempDir(), "c.db"), drv: cd, size: size})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 5; k++ {
		if _, err := db.Exec(`INSERT INTO t (k, v) VALUES ($1, $2)`, k, fmt.Sprint("v", k)); err != nil {
			t.Fatal(err)
		}
	}
	return db, cd
}

// A statement run again on the same connection is prepared once.
func TestStmtCacheReusesStatements(t *testing.T) {
	db, cd := cachedDB(t, 8)
	before := cd.prepares.Load()
	for k := 1; k <= 5; k++ {
		var v string
		if err := db.QueryRow(`SELECT v FROM t WHERE k = $1`, k).Scan(&v); err != nil || v != fmt.Sprint("v", k) {
			t.Fatalf("k=%d: %q, %v", k, v, err)
		}
	}
	if n := cd.prepares.Load() - before; n != 1 {
		t.Errorf("5 runs of one query prepared %d statements, want 1", n)
	}
}

// The same query run again while its first rows are still open (inside a
// transaction, on the same connection) gets a statement of its own: both
// result sets are complete and correct.
func TestStmtCacheNestedUseOfOneQuery(t *testing.T) {
	db, _ := cachedDB(t, 8)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT k, v FROM t WHERE k >= $1 ORDER BY k`
	outer, err := tx.Query(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var k int
		var v string
		if err := outer.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		var inner int
		rows, err := tx.Query(q, k)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			inner++
		}
		rows.Close()
		got = append(got, fmt.Sprintf("%s:%d", v, inner))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	want := "[v1:5 v2:4 v3:3 v4:2 v5:1]"
	if fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// More distinct queries than the cache holds: the least recently used are
// dropped (one of them while its rows are open), and every answer is still
// right.
func TestStmtCacheEviction(t *testing.T) {
	db, cd := cachedDB(t, 2)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	open, err := tx.Query(`SELECT v FROM t ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		var n int
		if err := tx.QueryRow(fmt.Sprintf(`SELECT COUNT(*) + %d FROM t`, i)).Scan(&n); err != nil || n != 5+i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	var vs []string
	for open.Next() {
		var v string
		open.Scan(&v)
		vs = append(vs, v)
	}
	if err := open.Close(); err != nil || len(vs) != 5 {
		t.Fatalf("rows kept open across evictions: %v, %v", vs, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	before := cd.prepares.Load()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) + 9 FROM t`).Scan(&n); err != nil || n != 14 {
		t.Fatal(n, err)
	}
	if cd.prepares.Load() != before {
		t.Error("the most recent query was not kept")
	}
}

// A kept statement follows a schema change, and a failed statement leaves
// the connection usable.
func TestStmtCacheSchemaChangeAndErrors(t *testing.T) {
	db, _ := cachedDB(t, 8)
	const q = `SELECT * FROM t WHERE k = $1`
	cols := func() int {
		rows, err := db.Query(q, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return len(c)
	}
	if n := cols(); n != 2 {
		t.Fatalf("%d columns", n)
	}
	if _, err := db.Exec(`ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if n := cols(); n != 3 {
		t.Errorf("after ALTER TABLE: %d columns, want 3", n)
	}
	const ins = `INSERT INTO t (k, v) VALUES ($1, $2)`
	if _, err := db.Exec(ins, 1, "dup"); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := db.Exec(ins, 6, "v6"); err != nil {
		t.Fatalf("the statement after a failure: %v", err)
	}
}
