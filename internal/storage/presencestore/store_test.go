package presencestore

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func TestPresence_PutGetAndNotOffline(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := s.Get(ctx, "@a:hs"); p != nil || err != nil {
			t.Fatalf("unknown user: %+v, %v", p, err)
		}
		msg := "lunch"
		if err := s.Put(ctx, Presence{UserID: "@a:hs", State: "online", StatusMsg: &msg, LastActiveTS: 5},
			Presence{UserID: "@b:hs", State: "offline", LastActiveTS: 7}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, Presence{UserID: "@a:hs", State: "unavailable", StatusMsg: &msg, LastActiveTS: 6}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Get(ctx, "@a:hs")
		if err != nil || p.State != "unavailable" || p.StatusMsg == nil || *p.StatusMsg != "lunch" || p.LastActiveTS != 6 {
			t.Fatalf("stored %+v, %v", p, err)
		}
		if p, _ := s.Get(ctx, "@b:hs"); p.StatusMsg != nil {
			t.Errorf("no status message stored as %q", *p.StatusMsg)
		}
		ps, err := s.NotOffline(ctx, 10)
		if err != nil || len(ps) != 1 || ps[0].UserID != "@a:hs" {
			t.Errorf("NotOffline: %+v, %v", ps, err)
		}
	})
}
