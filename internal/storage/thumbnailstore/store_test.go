package thumbnailstore

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// TestStore_PutGetDelete: thumbnails are keyed by media, size, method and
// type; deleting a media item's thumbnails hands back the blobs nothing
// else uses.
func TestStore_PutGetDelete(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		put := func(th Thumbnail) error {
			return db.WithTx(ctx, func(tx *sql.Tx) error { return s.Put(ctx, tx, th) })
		}
		if th, err := s.Get(ctx, "hs", "m1", 32, 32, "crop", "image/png"); th != nil || err != nil {
			t.Fatalf("absent: %+v, %v", th, err)
		}
		for _, th := range []Thumbnail{
			{Origin: "hs", MediaID: "m1", Width: 32, Height: 32, Method: "crop", ContentType: "image/png", SHA256: "aa", Size: 10, CreatedTS: 1},
			{Origin: "hs", MediaID: "m1", Width: 320, Height: 240, Method: "scale", ContentType: "image/png", SHA256: "bb", Size: 20, CreatedTS: 1},
			{Origin: "other", MediaID: "m1", Width: 32, Height: 32, Method: "crop", ContentType: "image/png", SHA256: "bb", Size: 20, CreatedTS: 1},
		} {
			if err := put(th); err != nil {
				t.Fatal(err)
			}
		}
		th, err := s.Get(ctx, "hs", "m1", 320, 240, "scale", "image/png")
		if err != nil || th == nil || th.SHA256 != "bb" || th.Size != 20 {
			t.Fatalf("Get: %+v, %v", th, err)
		}
		if th, _ := s.Get(ctx, "hs", "m1", 320, 240, "crop", "image/png"); th != nil {
			t.Errorf("another method matched: %+v", th)
		}
		// Made twice at once: the second replaces the first.
		if err := put(Thumbnail{Origin: "hs", MediaID: "m1", Width: 32, Height: 32, Method: "crop", ContentType: "image/png", SHA256: "cc", Size: 11, CreatedTS: 2}); err != nil {
			t.Fatal(err)
		}
		unused, err := s.DeleteMedia(ctx, "hs", "m1")
		slices.Sort(unused)
		if err != nil || !slices.Equal(unused, []string{"cc"}) {
			t.Errorf("DeleteMedia = %v, %v; want [cc] (bb is still another's)", unused, err)
		}
		for sha, want := range map[string]bool{"bb": true, "cc": false} {
			var used bool
			if err := db.WithTx(ctx, func(tx *sql.Tx) (err error) { used, err = s.BlobInUse(ctx, tx, sha); return err }); err != nil || used != want {
				t.Errorf("BlobInUse(%s) = %v, %v", sha, used, err)
			}
		}
		if th, _ := s.Get(ctx, "hs", "m1", 32, 32, "crop", "image/png"); th != nil {
			t.Errorf("deleted thumbnail still there: %+v", th)
		}
		if th, _ := s.Get(ctx, "other", "m1", 32, 32, "crop", "image/png"); th == nil {
			t.Error("another origin's thumbnail was deleted")
		}
	})
}
