package media

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/thumbnailstore"
)

func keyOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// servedAs checks that local media id is served with body.
func servedAs(t *testing.T, s *Service, id, body string) {
	t.Helper()
	c, err := s.Open(context.Background(), "local.example", id, OpenOptions{})
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	defer c.Object.Close()
	got, _ := io.ReadAll(c.Object)
	if string(got) != body {
		t.Fatalf("%s served %q, want %q", id, got, body)
	}
}

// Content is stored once per SHA-256, so deleting the last ID naming it
// may meet a new upload of the same bytes. Whichever order the two take,
// the new upload ends up naming stored content. Hooks stop each side at
// the point where the other used to slip in.
func TestKeeper_DeletingTheLastReferenceNeverStrandsAConcurrentIdenticalUpload(t *testing.T) {
	ctx := context.Background()
	var body string
	upload := func(t *testing.T, s *Service) string {
		t.Helper()
		id, err := s.Upload(ctx, "@u:local.example", "text/plain", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		t.Run("the deletion runs while the upload's content is staged", func(t *testing.T) {
			body = "the same bytes, " + t.Name()
			s := newService(t, db, nil, 1<<20)
			old := upload(t, s)
			s.cfg.Keeper.staged = func(key string) {
				s.cfg.Keeper.staged = nil
				// The old code had found the content stored here and
				// reused it; the deletion now removes that file.
				if err := s.Delete(ctx, "local.example", old); err != nil {
					t.Error(err)
				}
			}
			id := upload(t, s)
			if _, err := s.cfg.Blobs.Stat(ctx, keyOf(body)); err != nil {
				t.Fatalf("content of the new upload: %v", err)
			}
			servedAs(t, s, id, body)
		})
		t.Run("the upload arrives once the deletion found the content unused", func(t *testing.T) {
			body = "the same bytes, " + t.Name()
			s := newService(t, db, nil, 1<<20)
			old := upload(t, s)
			uploaded := make(chan string)
			s.cfg.Keeper.unused = func(key string) {
				s.cfg.Keeper.unused = nil
				staged := make(chan struct{})
				s.cfg.Keeper.staged = func(string) { close(staged) }
				go func() {
					id, err := s.Upload(ctx, "@u:local.example", "text/plain", "", strings.NewReader(body))
					if err != nil {
						t.Errorf("the upload: %v", err)
					}
					uploaded <- id
				}()
				// The upload has its content and goes for the lock the
				// deletion holds; the deletion goes on and removes the
				// file before the upload may commit.
				<-staged
			}
			if err := s.Delete(ctx, "local.example", old); err != nil {
				t.Fatal(err)
			}
			if s.cfg.Keeper.unused != nil {
				t.Fatal("the deletion did not find the content unused")
			}
			servedAs(t, s, <-uploaded, body)
		})
	})
}

// The orphan sweep deletes content nothing names once it is older than
// the grace period, keeps what media or a thumbnail names and what is
// recent, and resumes a pass where it stopped.
func TestSweepOrphans_DeletesOnlyOldUnnamedContent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newService(t, db, nil, 1<<20)
		thumbs, err := thumbnailstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		s.cfg.Keeper.AddUser(thumbs)
		id, err := s.Upload(ctx, "@u:local.example", "text/plain", "", strings.NewReader("named"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"orphan one", "orphan two", "thumbnail"} {
			if _, err := s.cfg.Blobs.Put(ctx, strings.NewReader(c), 100); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.WithTx(ctx, func(tx *sql.Tx) error {
			return thumbs.Put(ctx, tx, thumbnailstore.Thumbnail{Origin: "local.example", MediaID: id, Width: 32, Height: 32,
				Method: "crop", ContentType: "image/png", SHA256: keyOf("thumbnail"), Size: 9})
		}); err != nil {
			t.Fatal(err)
		}
		if n, done, err := s.SweepOrphans(ctx, OrphanGrace, 0); err != nil || n != 0 || !done {
			t.Fatalf("within the grace period: deleted %d, done %v, %v", n, done, err)
		}
		s.cfg.Now = func() time.Time { return time.Now().Add(2 * OrphanGrace) }
		// Four keys: a pass of two stops halfway and the next one goes on.
		var deleted int
		for i := 0; ; i++ {
			n, done, err := s.SweepOrphans(ctx, OrphanGrace, 2)
			if err != nil {
				t.Fatal(err)
			}
			deleted += n
			if done {
				break
			}
			if i > 2 {
				t.Fatal("the sweep does not resume where it stopped")
			}
		}
		if deleted != 2 {
			t.Errorf("deleted %d, want the two orphans", deleted)
		}
		for c, want := range map[string]bool{"named": true, "thumbnail": true, "orphan one": false, "orphan two": false} {
			if _, err := s.cfg.Blobs.Stat(ctx, keyOf(c)); (err == nil) != want {
				t.Errorf("%q kept = %v, want %v", c, err == nil, want)
			}
		}
		servedAs(t, s, id, "named")
	})
}
