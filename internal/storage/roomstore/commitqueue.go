package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
)

// Group commit across rooms.
//
// Each room's actor already commits its queued requests in one transaction,
// but a 200 on a send must mean the event is durable, so every commit costs
// an fsync (SQLite synchronous=FULL; PostgreSQL synchronous_commit=on), and
// SQLite has one writer: with many busy rooms, the fsyncs queue up one behind
// the other and the writer, not the CPU, sets the pace. WriteGrouped lets
// the writes of several rooms share one transaction and so one fsync. On
// PostgreSQL it is plain Write by default, which is faster there (see
// committers).
//
// Writes submitted while a group is committing wait in a queue; when the
// commit ends, everything queued forms the next group. Nothing waits on a
// timer, so a lone write costs what Write costs, and grouping grows with
// load by itself.

// maxGroup bounds how many writes share one transaction, so that one group
// holds SQLite's write lock for a bounded time and a failed commit takes a
// bounded amount of work with it.
const maxGroup = 64

// groupAttempts bounds how often one write runs when the database reports
// contention that a retry can fix (as sqldb.WithTx does for Write).
const groupAttempts = 5

// savepoint names the savepoint around each write of a group. One name
// serves all: each savepoint is released before the next is set.
const savepoint = "grouped_write"

// WriteGrouped runs fn like Write, but in a transaction it may share with
// writes that other goroutines submit at the same time, so that they all
// commit with one fsync. It returns only after that transaction's COMMIT
// (or its failure). On a store where grouping is off (PostgreSQL, see
// committers) it is Write. Otherwise:
//
//   - fn runs inside a SAVEPOINT of the shared transaction. If fn returns
//     an error, its own work is rolled back to the savepoint, the others'
//     stays, and the error is returned to this caller alone.
//   - If the COMMIT fails, none of the group's work is durable, and every
//     write whose fn succeeded runs again in a transaction of its own, so
//     that only a write that makes the COMMIT fail by itself gets its
//     error (fn must therefore be repeatable, as for Write).
//   - If the database reports transient contention (a PostgreSQL deadlock
//     or serialization failure, SQLite busy), fn runs again, in this group
//     or a later one; fn must therefore be repeatable, as for Write.
//   - If fn panics, the whole group is rolled back, the others run again
//     in a new transaction, and the panic is re-raised in this caller.
//
// fn sees the uncommitted work of the writes before it in the group; as
// with Write, it must use only w (on SQLite the writer's one connection is
// busy with the group). If ctx ends before fn has started, fn does not run
// and ctx's error is returned; once fn has started, the shared transaction
// is not cancelled on ctx's account (cancelling it would fail the other
// writes), so w's context carries ctx's values but not its cancellation.
func (s *Store) WriteGrouped(ctx context.Context, fn func(w *Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	gw := &groupedWrite{ctx: ctx, fn: fn, done: make(chan struct{})}
	if !s.commitQueue().submit(s, gw) {
		start := time.Now()
		err := s.Write(ctx, fn)
		if s.commitObserver != nil {
			s.commitObserver(1, time.Since(start), err)
		}
		return err
	}
	<-gw.done
	if gw.panicked {
		panic(gw.panicVal)
	}
	return gw.err
}

// groupedWrite is one WriteGrouped call waiting for its group.
type groupedWrite struct {
	ctx      context.Context
	fn       func(w *Writer) error
	attempts int
	done     chan struct{} // closed when err/panicked are final

	// Outcome of the current attempt.
	ran      bool // fn ran and its work is inside the transaction
	err      error
	retry    bool // err is transient: run fn again
	panicked bool
	panicVal any
}

func (gw *groupedWrite) reset() {
	gw.ran, gw.err, gw.retry, gw.panicked, gw.panicVal = false, nil, false, false, nil
}

// commitQueue holds the writes waiting for the next group. A goroutine
// commits groups while writes are waiting and exits when none are, so an
// idle store has no goroutine of its own.
type commitQueue struct {
	mu      sync.Mutex
	pending []*groupedWrite
	// running counts the goroutines committing groups, at most
	// maxRunning.
	running, maxRunning int
}

// submit queues gw, or reports false if this store does not group writes.
func (q *commitQueue) submit(s *Store, gw *groupedWrite) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.maxRunning == 0 {
		return false
	}
	q.pending = append(q.pending, gw)
	if q.running < q.maxRunning {
		q.running++
		go q.loop(s)
	}
	return true
}

func (q *commitQueue) loop(s *Store) {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running--
			q.mu.Unlock()
			return
		}
		n := min(len(q.pending), maxGroup)
		group := slices.Clone(q.pending[:n])
		q.pending = slices.Delete(q.pending, 0, n)
		q.mu.Unlock()

		var again []*groupedWrite
		finish := func(gws []*groupedWrite) {
			for _, gw := range gws {
				if gw.retry && gw.attempts < groupAttempts {
					again = append(again, gw)
					continue
				}
				close(gw.done)
			}
		}
		done, alone := s.commitGroup(group)
		finish(done)
		for _, gw := range alone {
			d, _ := s.commitGroup([]*groupedWrite{gw})
			finish(d)
		}
		if len(again) > 0 {
			// Ahead of later arrivals: they have waited longest.
			q.mu.Lock()
			q.pending = append(again, q.pending...)
			q.mu.Unlock()
		}
	}
}

// errGroupLost is returned from the group's transaction function when the
// transaction cannot go on because of one write (its savepoint could not be
// rolled back, or it panicked). It deliberately wraps nothing, so that
// sqldb.WithTx does not retry the group with that write in it.
type errGroupLost struct {
	by     *groupedWrite
	reason error
}

func (e *errGroupLost) Error() string {
	return "roomstore: grouped write lost its transaction: " + e.reason.Error()
}

// commitGroup runs the group in one transaction and commits it. It returns
// the writes whose outcome is set (those marked retry run again), and the
// writes that must commit again each on its own: when the transaction of
// a group of several fails as a whole (typically at COMMIT, where a
// deferred constraint or the like can fail for one write's sake), the
// writes whose own work went well are not given an error that may not be
// theirs; each commits alone, and only the culprit fails.
func (s *Store) commitGroup(group []*groupedWrite) (done, alone []*groupedWrite) {
	// The transaction belongs to no single caller (see WriteGrouped).
	ctx := context.Background()
	start := time.Now()
	err := s.db.WithTx(ctx, func(tx *sql.Tx) error {
		// WithTx runs this again after a transient failure of the whole
		// transaction (for example at COMMIT): start from scratch.
		for _, gw := range group {
			gw.reset()
		}
		for _, gw := range group {
			if err := gw.ctx.Err(); err != nil {
				gw.err = err // the caller gave up before fn started
				continue
			}
			if err := s.runInSavepoint(tx, gw, len(group) == 1); err != nil {
				return err
			}
		}
		return nil
	})
	if s.commitObserver != nil {
		s.commitObserver(len(group), time.Since(start), err)
	}
	var lost *errGroupLost
	switch {
	case err == nil:
		// Committed: each write keeps its own outcome.
	case errors.As(err, &lost):
		// One write broke the transaction: it alone fails (or panics in
		// its caller); the others lost nothing of their own and run again.
		for _, gw := range group {
			if gw != lost.by {
				gw.reset()
				gw.err, gw.retry = fmt.Errorf("roomstore: grouped write: another write of its group failed: %w", lost), true
			}
		}
	case len(group) > 1:
		// The transaction failed as a whole (BEGIN, a savepoint statement,
		// or COMMIT): nothing is durable. Writes that failed on their own
		// keep their error; the others commit again, each alone.
		for _, gw := range group {
			gw.attempts++
			if gw.err != nil {
				gw.retry = false
				done = append(done, gw)
				continue
			}
			gw.reset()
			alone = append(alone, gw)
		}
		return done, alone
	default:
		// A lone write's transaction failed: the error is its own.
		for _, gw := range group {
			if gw.err == nil {
				gw.err = err
			}
			gw.retry = false
		}
	}
	for _, gw := range group {
		gw.attempts++
	}
	return group, nil
}

// runInSavepoint runs one write of a group between SAVEPOINT and RELEASE,
// rolling back to the savepoint if fn fails. A non-nil return ends the
// transaction. A write alone in its group needs no savepoint (its failure
// rolls back the whole transaction, as Write does), which spares a lone
// write two statements.
func (s *Store) runInSavepoint(tx *sql.Tx, gw *groupedWrite, alone bool) error {
	ctx := context.Background()
	if alone {
		panicked, pv, fnErr := callWriter(gw.fn, &Writer{s: s, tx: tx, ctx: context.WithoutCancel(gw.ctx)})
		switch {
		case panicked:
			gw.panicked, gw.panicVal = true, pv
			return &errGroupLost{by: gw, reason: fmt.Errorf("write panicked: %v", pv)}
		case fnErr != nil:
			gw.err, gw.retry = fnErr, transient(fnErr)
			return &errGroupLost{by: gw, reason: fnErr}
		}
		gw.ran = true
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return err
	}
	panicked, pv, fnErr := callWriter(gw.fn, &Writer{s: s, tx: tx, ctx: context.WithoutCancel(gw.ctx)})
	if panicked {
		// The state fn left behind is unknown: give up the whole group.
		gw.panicked, gw.panicVal = true, pv
		return &errGroupLost{by: gw, reason: fmt.Errorf("write panicked: %v", pv)}
	}
	if fnErr == nil {
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
			return err
		}
		gw.ran = true
		return nil
	}
	gw.err, gw.retry = fnErr, transient(fnErr)
	// After some errors (SQLITE_FULL, SQLITE_IOERR, ...) SQLite has already
	// rolled back the whole transaction, and then the savepoint is gone.
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); err != nil {
		gw.retry = false
		return &errGroupLost{by: gw, reason: err}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+savepoint); err != nil {
		gw.retry = false
		return &errGroupLost{by: gw, reason: err}
	}
	return nil
}

// callWriter runs fn, turning a panic into a value to re-raise later in the
// caller's goroutine (the group runs in the queue's goroutine, where a
// panic would take down the process without reaching the caller's
// recovery, e.g. the HTTP server's).
func callWriter(fn func(*Writer) error, w *Writer) (panicked bool, pv any, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, pv = true, r
		}
	}()
	return false, nil, fn(w)
}

// transient reports whether a write that failed with err may succeed if
// run again: PostgreSQL's serialization failure and deadlock (PostgreSQL
// manual, appendix A), where the server asks the client to retry, and
// SQLite's busy/locked. It mirrors sqldb's test for WithTx's retries, which
// that package does not export.
func transient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		primary := se.Code() & 0xff // the driver reports extended codes
		return primary == sqlite3.SQLITE_BUSY || primary == sqlite3.SQLITE_LOCKED
	}
	return false
}

// committers is how many groups may commit at once; 0 means that
// WriteGrouped is Write.
//
// SQLite: one. It has one writer connection, so writes are serialized
// anyway, and grouping only removes fsyncs.
//
// PostgreSQL: none. Concurrent transactions on the pool's connections
// already share WAL flushes (a flush writes the WAL up to its end, covering
// every commit record queued meanwhile), while a group runs its writes one
// after another on one connection, paying a network round trip for every
// statement. Measured with 10 senders across 10 rooms on a busy 2-core
// machine, two runs each (docs/performance.md): one committer 352-707,
// three 814-817, ten 898-945 events/s, plain Write 703-1 024. The grouping
// itself works on PostgreSQL (the tests run it there).
func committers(db *sqldb.DB) int {
	if db.Dialect() == sqldb.SQLite {
		return 1
	}
	return 0
}

func (s *Store) commitQueue() *commitQueue {
	s.queueOnce.Do(func() { s.queue = &commitQueue{maxRunning: committers(s.db)} })
	return s.queue
}
