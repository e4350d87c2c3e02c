package sqldb

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"
)

// SQLite connections keep their prepared statements.
//
// database/sql with the SQLite driver prepares every statement anew on each
// call: SQLite parses and plans the SQL, uses the statement once and
// finalizes it. A profile of 1 000 users long-polling /sync showed 60 % of
// the sync requests' CPU in SQLite's parser. PostgreSQL needs none of this:
// pgx keeps a cache of prepared statements per connection by default.
//
// stmtCacheConnector wraps the driver's connections so that each keeps its
// most recently used statements, by SQL text, and runs a cached statement
// again after SQLite resets it. It sits below database/sql, so every store
// gets it without changing a query. A statement still in use on the same
// connection (its rows not yet closed) is never run twice at once: the
// second use gets a statement of its own, as without the cache.

// stmtCacheSize is how many statements each connection keeps. The stores'
// fixed SQL fits; IN lists of varying length each count as a statement and
// push out the least recently used.
const stmtCacheSize = 128

type stmtCacheConnector struct {
	dsn  string
	drv  driver.Driver
	size int
}

func (c *stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	cc, err := newCachingConn(conn, c.size)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return cc, nil
}

func (c *stmtCacheConnector) Driver() driver.Driver { return c.drv }

// The driver interfaces a wrapped connection needs from the driver's own.
type innerConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
}

// cachingConn is one connection with its statements. database/sql never
// uses a connection from two goroutines at once (it holds the connection's
// lock around every driver call, Rows.Close included), so it needs no lock
// of its own.
type cachingConn struct {
	innerConn
	max   int
	stmts map[string]*list.Element // of *cachedStmt
	lru   *list.List
}

type cachedStmt struct {
	query   string
	st      driver.Stmt
	busy    bool // its rows are open
	evicted bool // out of the cache; close when no longer busy
}

type cachedStmtAPI interface {
	driver.StmtQueryContext
	driver.StmtExecContext
}

func newCachingConn(conn driver.Conn, size int) (*cachingConn, error) {
	ic, ok := conn.(innerConn)
	if !ok {
		return nil, errors.New("sqldb: the SQLite driver's connection lacks the context interfaces")
	}
	return &cachingConn{innerConn: ic, max: size, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

// cacheable leaves out scripts of several statements: the driver parses
// those statement by statement on every run anyway.
func cacheable(query string) bool {
	return !strings.Contains(query, ";")
}

// acquire returns an idle cached statement for query, preparing it if
// needed, or nil when the query should run uncached.
func (c *cachingConn) acquire(ctx context.Context, query string) (*cachedStmt, error) {
	if !cacheable(query) {
		return nil, nil
	}
	if el, ok := c.stmts[query]; ok {
		cs := el.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(el)
		cs.busy = true
		return cs, nil
	}
	st, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(cachedStmtAPI); !ok {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{query: query, st: st, busy: true}
	c.stmts[query] = c.lru.PushFront(cs)
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		old := last.Value.(*cachedStmt)
		c.lru.Remove(last)
		delete(c.stmts, old.query)
		old.evicted = true
		if !old.busy {
			old.st.Close()
		}
	}
	return cs, nil
}

func (c *cachingConn) release(cs *cachedStmt) {
	cs.busy = false
	if cs.evicted {
		cs.st.Close()
	}
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(cachedStmtAPI).QueryContext(ctx, args)
	if err != nil {
		c.release(cs)
		return nil, err
	}
	return &cachedRows{Rows: rows, release: func() { c.release(cs) }}, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.st.(cachedStmtAPI).ExecContext(ctx, args)
}

// Close finalizes the kept statements before the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for el := c.lru.Front(); el != nil; el = el.Next() {
		errs = append(errs, el.Value.(*cachedStmt).st.Close())
	}
	c.lru.Init()
	clear(c.stmts)
	return errors.Join(append(errs, c.innerConn.Close())...)
}

// The optional interfaces database/sql looks for on a connection, passed on.

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.innerConn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.innerConn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.innerConn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// cachedRows gives the statement back when the rows close.
type cachedRows struct {
	driver.Rows
	release func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
