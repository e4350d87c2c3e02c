package spacestore

import (
	"context"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A stored hierarchy session is read back until it expires; saving one
// deletes the expired ones and a user's oldest beyond the bound.
func TestSessions_ExpireAndAreBoundedPerUser(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		save := func(token, user string, expires, now int64) {
			t.Helper()
			err := s.SaveSession(ctx, Session{Token: token, UserID: user, RootID: "!space:hs1", SuggestedOnly: true, MaxDepth: 3,
				State: []byte(`{"queue":[]}`), ExpiresTS: expires}, now, 3)
			if err != nil {
				t.Fatal(err)
			}
		}
		save("t1", "@a:hs1", 100, 0)
		got, err := s.Session(ctx, "t1", 99)
		if err != nil || got == nil || got.UserID != "@a:hs1" || got.RootID != "!space:hs1" || !got.SuggestedOnly || got.MaxDepth != 3 ||
			string(got.State) != `{"queue":[]}` {
			t.Fatalf("session %+v, %v", got, err)
		}
		if got, err := s.Session(ctx, "t1", 100); err != nil || got != nil {
			t.Errorf("expired session read: %+v, %v", got, err)
		}
		if got, _ := s.Session(ctx, "unknown", 0); got != nil {
			t.Errorf("unknown token: %+v", got)
		}
		for i := 2; i <= 5; i++ {
			save(fmt.Sprint("t", i), "@a:hs1", int64(1000+i), 101)
		}
		save("b1", "@b:hs1", 2000, 101)
		var n int
		if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM hierarchy_sessions`).Scan(&n); err != nil || n != 4 {
			t.Errorf("%d sessions stored (%v), want @a's 3 newest and @b's", n, err)
		}
		if got, _ := s.Session(ctx, "t2", 101); got != nil {
			t.Errorf("@a's oldest session kept beyond the bound")
		}
		if got, _ := s.Session(ctx, "t5", 101); got == nil {
			t.Errorf("@a's newest session lost")
		}
	})
}
