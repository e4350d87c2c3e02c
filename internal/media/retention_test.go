package media

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// media_retention: local media not accessed for local_media_lifetime goes,
// except an avatar in use; cached remote media not accessed for
// remote_media_lifetime goes, and is fetched again when asked for.
func TestRetention_DeletesWhatWasNotAccessedButAvatarsInUse(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		origin := &gatedOrigin{gate: make(chan struct{}), body: "remote"}
		close(origin.gate)
		s := newService(t, db, origin, 1<<20)
		now := time.Unix(1_700_000_000, 0)
		s.cfg.Now = func() time.Time { return now }
		ctx := context.Background()
		upload := func(body string) string {
			id, err := s.Upload(ctx, "@u:local.example", "text/plain", "", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		old, avatar := upload("old"), upload("avatar")
		s.cfg.InUse = func(_ context.Context, mxc string) (bool, error) { return mxc == MXC("local.example", avatar), nil }
		c, err := s.Open(ctx, "remote.example", "r1", OpenOptions{AllowRemote: true})
		if err != nil {
			t.Fatal(err)
		}
		c.Object.Close()

		now = now.Add(10 * 24 * time.Hour)
		fresh := upload("fresh")
		n, err := s.ApplyRetention(ctx, 7*24*time.Hour, 7*24*time.Hour)
		if err != nil || n != 2 {
			t.Fatalf("deleted %d, %v; want the old upload and the remote copy", n, err)
		}
		for id, want := range map[string]error{old: merr.ErrNotFound, avatar: nil, fresh: nil} {
			c, err := s.Open(ctx, "local.example", id, OpenOptions{})
			if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
				t.Errorf("%s after retention: %v, want %v", id, err, want)
			}
			if c != nil {
				c.Object.Close()
			}
		}
		calls := origin.calls.Load()
		if c, err := s.Open(ctx, "remote.example", "r1", OpenOptions{AllowRemote: true}); err != nil {
			t.Errorf("remote media after its copy went: %v", err)
		} else {
			c.Object.Close()
		}
		if origin.calls.Load() != calls+1 {
			t.Error("purged remote media was not fetched again")
		}
	})
}
