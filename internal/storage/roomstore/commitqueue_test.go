package roomstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// WriteGrouped (commitqueue.go): writes submitted together share one
// transaction, each inside its own savepoint, and each caller learns its
// own outcome only after the COMMIT.

// newStore returns a store whose WriteGrouped groups writes on every
// backend (PostgreSQL's default is plain Write; see committers).
func newStore(t *testing.T, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	q := s.commitQueue()
	q.mu.Lock()
	q.maxRunning = 1
	q.mu.Unlock()
	return s
}

func roomExists(t *testing.T, s *Store, roomID string) bool {
	t.Helper()
	_, err := s.Room(context.Background(), roomID)
	if err == nil {
		return true
	}
	if !errors.Is(err, merr.ErrNotFound) {
		t.Fatalf("Room(%s): %v", roomID, err)
	}
	return false
}

// group holds the queue with a first write that blocks until the test has
// queued the writes it wants committed together, then lets them all go.
// It returns the transactions each write ran in and their errors, by index.
type group struct {
	s      *Store
	fns    []func(w *Writer) error
	txs    []*sql.Tx
	errs   []error
	panics []any   // what WriteGrouped raised in each caller, if anything
	blank  *sql.Tx // the blocking first write's transaction
}

func runGroup(t *testing.T, s *Store, fns ...func(w *Writer) error) *group {
	t.Helper()
	g := &group{s: s, fns: fns, txs: make([]*sql.Tx, len(fns)), errs: make([]error, len(fns)), panics: make([]any, len(fns))}
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	var firstErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		firstErr = s.WriteGrouped(ctx, func(w *Writer) error {
			g.blank = w.tx
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { g.panics[i] = recover() }()
			g.errs[i] = s.WriteGrouped(ctx, func(w *Writer) error {
				g.txs[i] = w.tx
				return fn(w)
			})
		}()
	}
	waitQueued(t, s, len(fns))
	close(release)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("the blocking first write failed: %v", firstErr)
	}
	return g
}

// waitQueued waits until n writes wait in the store's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	q := s.commitQueue()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q.mu.Lock()
		got := len(q.pending)
		q.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func createRoom(id string) func(w *Writer) error {
	return func(w *Writer) error { return w.CreateRoom(id, "12", 1) }
}

func TestWriteGrouped_ConcurrentWritesShareOneCommit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		const n = 8
		fns := make([]func(w *Writer) error, n)
		for i := range fns {
			fns[i] = createRoom(fmt.Sprintf("!r%d:hs", i))
		}
		g := runGroup(t, s, fns...)
		for i := range n {
			if g.errs[i] != nil {
				t.Errorf("write %d: %v", i, g.errs[i])
			}
			if g.txs[i] != g.txs[0] {
				t.Errorf("write %d ran in another transaction than write 0", i)
			}
			if !roomExists(t, s, fmt.Sprintf("!r%d:hs", i)) {
				t.Errorf("room of write %d not committed", i)
			}
		}
		if g.txs[0] == g.blank {
			t.Error("the queued writes ran in the blocking write's transaction, which had already started")
		}
	})
}

func TestWriteGrouped_FailingWriteRollsBackOnlyItself(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		if err := s.Write(context.Background(), createRoom("!taken:hs")); err != nil {
			t.Fatal(err)
		}
		errOwn := errors.New("the caller's own error")
		g := runGroup(t, s,
			createRoom("!a:hs"),
			// Writes, then fails in Go: its room must be rolled back.
			func(w *Writer) error {
				if err := w.CreateRoom("!b:hs", "12", 1); err != nil {
					return err
				}
				return errOwn
			},
			// Fails in SQL (on PostgreSQL this aborts the transaction
			// unless rolled back to the savepoint).
			func(w *Writer) error {
				if err := w.CreateRoom("!c:hs", "12", 1); err != nil {
					return err
				}
				return w.CreateRoom("!taken:hs", "12", 1)
			},
			createRoom("!d:hs"),
		)
		if g.errs[0] != nil || g.errs[3] != nil {
			t.Errorf("the good writes failed: %v, %v", g.errs[0], g.errs[3])
		}
		if !errors.Is(g.errs[1], errOwn) {
			t.Errorf("the failing write got %v, want its own error", g.errs[1])
		}
		if !sqldb.IsUniqueViolation(g.errs[2]) {
			t.Errorf("the write breaking a constraint got %v, want the unique violation", g.errs[2])
		}
		for room, want := range map[string]bool{"!a:hs": true, "!b:hs": false, "!c:hs": false, "!d:hs": true} {
			if got := roomExists(t, s, room); got != want {
				t.Errorf("room %s committed = %v, want %v", room, got, want)
			}
		}
		if g.txs[0] != g.txs[3] {
			t.Error("the good writes did not share a transaction")
		}
	})
}

// A COMMIT that fails for one write's sake fails that write only: the
// others of its group commit again, each on its own.
func TestWriteGrouped_CommitFailureFailsOnlyItsCulprit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		// A deferred foreign key is checked at COMMIT, so the write that
		// breaks it succeeds on its own and the COMMIT fails.
		for _, q := range []string{
			`CREATE TABLE cq_parent (id INTEGER PRIMARY KEY)`,
			`CREATE TABLE cq_child (parent INTEGER REFERENCES cq_parent (id) DEFERRABLE INITIALLY DEFERRED)`,
		} {
			if _, err := db.Write.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		g := runGroup(t, s,
			createRoom("!a:hs"),
			func(w *Writer) error {
				_, err := w.tx.ExecContext(w.ctx, `INSERT INTO cq_child (parent) VALUES (42)`)
				return err
			},
			createRoom("!b:hs"),
		)
		if err := g.errs[1]; !sqldb.IsForeignKeyViolation(err) || !strings.Contains(err.Error(), "commit") {
			t.Errorf("the culprit got %v, want the COMMIT's foreign key violation", err)
		}
		for i, room := range map[int]string{0: "!a:hs", 2: "!b:hs"} {
			if g.errs[i] != nil {
				t.Errorf("write %d beside the culprit got %v", i, g.errs[i])
			}
			if !roomExists(t, s, room) {
				t.Errorf("room %s is missing though its write succeeded", room)
			}
		}
		var n int
		if err := db.Read.QueryRow(`SELECT COUNT(*) FROM cq_child`).Scan(&n); err != nil || n != 0 {
			t.Errorf("cq_child holds %d rows (%v), want none", n, err)
		}
	})
}

func TestWriteGrouped_PanicReachesItsCallerOnly(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		g := runGroup(t, s,
			createRoom("!a:hs"),
			func(w *Writer) error {
				if err := w.CreateRoom("!p:hs", "12", 1); err != nil {
					return err
				}
				panic("boom")
			},
			createRoom("!b:hs"),
		)
		if g.panics[1] != "boom" {
			t.Errorf("the panicking write's caller recovered %v, want its panic", g.panics[1])
		}
		if g.panics[0] != nil || g.panics[2] != nil {
			t.Errorf("the other callers panicked: %v, %v", g.panics[0], g.panics[2])
		}
		if roomExists(t, s, "!p:hs") {
			t.Error("the panicking write's room was committed")
		}
		if g.errs[0] != nil || g.errs[2] != nil {
			t.Errorf("the other writes failed: %v, %v", g.errs[0], g.errs[2])
		}
		if !roomExists(t, s, "!a:hs") || !roomExists(t, s, "!b:hs") {
			t.Error("the other writes were not committed after the group was given up")
		}
	})
}

func TestWriteGrouped_PanicIsRaisedInTheCaller(t *testing.T) {
	s := newStore(t, storagetest.NewSQLite(t))
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the fn's panic", r)
		}
	}()
	_ = s.WriteGrouped(context.Background(), func(*Writer) error { panic("boom") })
	t.Error("WriteGrouped returned after fn panicked")
}

func TestWriteGrouped_CancelledBeforeStartDoesNotRun(t *testing.T) {
	s := newStore(t, storagetest.NewSQLite(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.WriteGrouped(ctx, func(*Writer) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("err %v, ran %v: want context.Canceled and fn not run", err, ran)
	}
}

func TestWriteGrouped_TransientFailureRunsAgain(t *testing.T) {
	// PostgreSQL asks the client to retry after a deadlock (SQLSTATE
	// 40P01, manual appendix A); WriteGrouped retries as Write does.
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	s := newStore(t, storagetest.NewSQLite(t))
	calls := 0
	err := s.WriteGrouped(context.Background(), func(w *Writer) error {
		calls++
		if err := w.CreateRoom("!a:hs", "12", 1); err != nil {
			return err
		}
		if calls == 1 {
			return deadlock
		}
		return nil
	})
	if err != nil || calls != 2 || !roomExists(t, s, "!a:hs") {
		t.Errorf("err %v after %d calls: want success on the second", err, calls)
	}

	calls = 0
	err = s.WriteGrouped(context.Background(), func(*Writer) error { calls++; return deadlock })
	if !errors.Is(err, deadlock) || calls != groupAttempts {
		t.Errorf("err %v after %d calls: want the deadlock after %d", err, calls, groupAttempts)
	}
}

func TestWriteGrouped_DefaultsOfEachBackendCommit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, err := New(context.Background(), db) // grouping as in production
		if err != nil {
			t.Fatal(err)
		}
		errOwn := errors.New("own")
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.WriteGrouped(context.Background(), func(w *Writer) error {
					if err := w.CreateRoom(fmt.Sprintf("!r%d:hs", i), "12", 1); err != nil {
						return err
					}
					if i == 3 {
						return errOwn
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			want := i != 3
			if (err == nil) != want || roomExists(t, s, fmt.Sprintf("!r%d:hs", i)) != want {
				t.Errorf("write %d: err %v; want committed = %v", i, err, want)
			}
		}
	})
}

func TestWriteGrouped_LoneFailingWriteLeavesNothing(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		errOwn := errors.New("own")
		err := s.WriteGrouped(context.Background(), func(w *Writer) error {
			if err := w.CreateRoom("!lone:hs", "12", 1); err != nil {
				return err
			}
			return errOwn
		})
		if !errors.Is(err, errOwn) || roomExists(t, s, "!lone:hs") {
			t.Errorf("err %v: want the write's own error and its room rolled back", err)
		}
	})
}
