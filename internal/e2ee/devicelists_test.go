package e2ee

import (
	"context"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// keys.yaml "GET /keys/changes" with a from token older than the rows the
// device-list log has since replaced (it keeps one row per user and
// device, as Synapse does): the user is still reported changed, and a
// token after the last change reports nothing.
func TestKeyChanges_TokenFromBeforeReplacedRowsStillSeesChange(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs := newHomeserver(t, db, "hs1", "@a:hs1/D")
		tok := func() string { return fmt.Sprintf("s0_dl%d", hs.svc.devLists.tracker.Current()) }
		before := tok()
		if err := hs.svc.NotifyKeysChanged(ctx, "@a:hs1", "D"); err != nil {
			t.Fatal(err)
		}
		between := tok()
		for range 3 {
			if err := hs.svc.NotifyKeysChanged(ctx, "@a:hs1", "D"); err != nil {
				t.Fatal(err)
			}
		}
		after := tok()
		for _, tc := range []struct{ from, to, want string }{
			{before, between, "[@a:hs1]"},
			{before, after, "[@a:hs1]"},
			{between, after, "[@a:hs1]"},
			{after, after, "[]"},
		} {
			changed, _, err := hs.svc.KeyChanges(ctx, "@a:hs1", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(changed) != tc.want {
				t.Errorf("changes from %s to %s: %v, want %s", tc.from, tc.to, changed, tc.want)
			}
		}
	})
}
