package urlpreviewstore

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// TestStore_GetPrefersTheVersionAtOrBeforeTS: ts picks the version fetched
// last at or before it, else the first after it (Synapse's
// get_url_cache).
func TestStore_GetPrefersTheVersionAtOrBeforeTS(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		const u = "https://example.org/page"
		if p, err := s.Get(ctx, u, 1000); p != nil || err != nil {
			t.Fatalf("never fetched: %+v, %v", p, err)
		}
		for _, p := range []Preview{
			{URL: u, FetchedTS: 100, ExpiresTS: 200, OG: []byte(`{"og:title":"v1"}`)},
			{URL: u, FetchedTS: 300, ExpiresTS: 400, OG: []byte(`{"og:title":"v2"}`), MediaID: "img2"},
			{URL: u + "/other", FetchedTS: 250, ExpiresTS: 350, OG: []byte(`{}`)},
		} {
			if err := s.Put(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			ts        int64
			wantTitle string
		}{{50, "v1"}, {100, "v1"}, {299, "v1"}, {300, "v2"}, {10_000, "v2"}} {
			p, err := s.Get(ctx, u, c.ts)
			if err != nil || p == nil {
				t.Fatalf("ts %d: %+v, %v", c.ts, p, err)
			}
			if want := `{"og:title":"` + c.wantTitle + `"}`; string(p.OG) != want {
				t.Errorf("ts %d: og %s, want %s", c.ts, p.OG, want)
			}
		}
		if p, _ := s.Get(ctx, u, 300); p.MediaID != "img2" || p.ExpiresTS != 400 {
			t.Errorf("v2 read back as %+v", p)
		}
		// A refetch in the same millisecond replaces the row.
		if err := s.Put(ctx, Preview{URL: u, FetchedTS: 300, ExpiresTS: 500, OG: []byte(`{"og:title":"v3"}`)}); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Get(ctx, u, 300); string(p.OG) != `{"og:title":"v3"}` || p.MediaID != "" {
			t.Errorf("replaced row read back as %+v", p)
		}
	})
}

// TestStore_DeleteExpired removes only expired versions and hands back
// their images.
func TestStore_DeleteExpired(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for i, exp := range []int64{10, 20, 30} {
			if err := s.Put(ctx, Preview{URL: "https://a/", FetchedTS: int64(i), ExpiresTS: exp, OG: []byte(`{}`), MediaID: []string{"m0", "", "m2"}[i]}); err != nil {
				t.Fatal(err)
			}
		}
		ids, n, err := s.DeleteExpired(ctx, 25, 100)
		if err != nil || n != 2 || len(ids) != 1 || ids[0] != "m0" {
			t.Fatalf("DeleteExpired = %v, %d, %v", ids, n, err)
		}
		if p, _ := s.Get(ctx, "https://a/", 0); p == nil || p.ExpiresTS != 30 {
			t.Errorf("the unexpired version is gone: %+v", p)
		}
	})
}
