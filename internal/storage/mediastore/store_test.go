package mediastore

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func newStore(t *testing.T, db *sqldb.DB) *Store {
	t.Helper()
	s, err := New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pending(id, user string, created, expires int64) *Media {
	return &Media{Origin: "hs", MediaID: id, UserID: user, CreatedTS: created, ExpiresTS: expires, LastAccessTS: created}
}

// content-repo.yaml, /media/v1/create and PUT /upload: a pending ID takes
// one upload from its creator before it expires; the number of pending IDs
// per user is bounded.
func TestMediaStore_PendingIDsTakeOneUploadFromTheirCreator(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, ctx := newStore(t, db), context.Background()
		if err := s.CreatePending(ctx, pending("a", "@u:hs", 1, 100), 2); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePending(ctx, pending("b", "@u:hs", 1, 100), 2); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePending(ctx, pending("c", "@u:hs", 1, 100), 2); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("third pending ID: %v", err)
		}
		if err := s.CreatePending(ctx, pending("c", "@u:hs", 100, 200), 2); err != nil {
			t.Fatalf("after the first two expired: %v", err)
		}
		up := func(id, user string, at int64) error {
			return db.WithTx(ctx, func(tx *sql.Tx) error {
				return s.Complete(ctx, tx, &Media{Origin: "hs", MediaID: id, UserID: user, ContentType: "text/plain",
					Size: 3, SHA256: "abc", UploadedTS: at})
			})
		}
		if err := up("c", "@v:hs", 150); !errors.Is(err, ErrNotOwner) {
			t.Errorf("another user's upload: %v", err)
		}
		if err := up("a", "@u:hs", 150); !errors.Is(err, ErrNotFound) {
			t.Errorf("upload after expiry: %v", err)
		}
		if err := up("c", "@u:hs", 150); err != nil {
			t.Fatal(err)
		}
		if err := up("c", "@u:hs", 160); !errors.Is(err, ErrAlreadyStored) {
			t.Errorf("second upload: %v", err)
		}
		m, err := s.Get(ctx, "hs", "c")
		if err != nil || m.Pending() || m.SHA256 != "abc" || m.ExpiresTS != 0 {
			t.Fatalf("after upload: %+v %v", m, err)
		}
		if n, err := s.DeleteExpiredPending(ctx, 150); err != nil || n != 2 {
			t.Errorf("expired pending deleted: %d %v", n, err)
		}
		if _, err := s.Get(ctx, "hs", "zz"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown ID: %v", err)
		}
	})
}

// Content shared by two IDs is named while either is; a cached remote
// copy is stored once; a deletion returns the content its row named.
func TestMediaStore_DeleteReturnsTheContentItNamed(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, ctx := newStore(t, db), context.Background()
		inUse := func(sha string) bool {
			var used bool
			if err := s.BlobTx(ctx, sha, func(tx *sql.Tx) error {
				var err error
				used, err = s.SHA256InUseTx(ctx, tx, sha)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return used
		}
		inTx := func(fn func(tx *sql.Tx) error) {
			t.Helper()
			if err := db.WithTx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"x", "y"} {
			inTx(func(tx *sql.Tx) error {
				return s.Insert(ctx, tx, &Media{Origin: "hs", MediaID: id, SHA256: "same", UploadedTS: 5, LastAccessTS: 5})
			})
		}
		inTx(func(tx *sql.Tx) error {
			got, err := s.InsertCached(ctx, tx, &Media{Origin: "remote", MediaID: "r", SHA256: "other", UploadedTS: 1, LastAccessTS: 1})
			if err != nil || got.SHA256 != "other" {
				t.Errorf("cached: %+v %v", got, err)
			}
			again, err := s.InsertCached(ctx, tx, &Media{Origin: "remote", MediaID: "r", SHA256: "newer"})
			if err != nil || again.SHA256 != "other" {
				t.Errorf("a second cache of one ID replaced the first: %+v %v", again, err)
			}
			return nil
		})
		if list, err := s.List(ctx, Filter{Remote: true, Local: "hs", AccessedBefore: 2, Limit: 10}); err != nil || len(list) != 1 {
			t.Errorf("remote media accessed before 2: %d %v", len(list), err)
		}
		if sha, err := s.Delete(ctx, "hs", "x"); err != nil || sha != "same" || !inUse("same") {
			t.Fatalf("first delete: %q %v", sha, err)
		}
		if _, err := s.Delete(ctx, "hs", "y"); err != nil || inUse("same") {
			t.Errorf("content in use after its last ID went: %v", err)
		}
		if _, err := s.Delete(ctx, "hs", "y"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting twice: %v", err)
		}
		if c, _ := s.SweepCursor(ctx, "orphans"); c != "" {
			t.Errorf("cursor of a sweep never run: %q", c)
		}
		for _, c := range []string{"ab", "cd"} {
			if err := s.SetSweepCursor(ctx, "orphans", c); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.SweepCursor(ctx, "orphans"); c != "cd" || err != nil {
			t.Errorf("cursor = %q, %v", c, err)
		}
	})
}
