package keystore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func pub(b byte) ed25519.PublicKey {
	k, _ := signing.NewSigningKey("k", bytes.Repeat([]byte{b}, 32))
	return k.Public()
}

const day = 24 * 60 * 60 * 1000

// TestStore_SaveAndLoad: keys and the latest response survive closing and
// reopening the database, fetch time included, on both backends.
func TestStore_SaveAndLoad(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		keys := []Key{
			{ServerName: "a.example", KeyID: "ed25519:new", PublicKey: pub(1), ValidUntilTS: 10 * day, FetchedTS: 1000, FromServer: "a.example"},
			{ServerName: "a.example", KeyID: "ed25519:old", PublicKey: pub(2), ExpiredTS: 500, FetchedTS: 1000, FromServer: "a.example"},
		}
		resp := Response{ServerName: "a.example", FromServer: "a.example", FetchedTS: 1000, ValidUntilTS: 10 * day, JSON: []byte(`{"server_name":"a.example"}`)}
		if err := s.Save(ctx, resp, keys); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Response(ctx, "b.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Response of an unknown server: %v", err)
		}

		// A second store on the same database: what a restart sees.
		s2, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s2.Keys(ctx, "a.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d keys, want 2", len(got))
		}
		for i := range got {
			w := keys[i]
			g := got[i]
			if g.KeyID != w.KeyID || !g.PublicKey.Equal(w.PublicKey) || g.ValidUntilTS != w.ValidUntilTS ||
				g.ExpiredTS != w.ExpiredTS || g.FetchedTS != w.FetchedTS || g.FromServer != w.FromServer {
				t.Fatalf("key %d: got %+v, want %+v", i, g, w)
			}
		}
		r, err := s2.Response(ctx, "a.example")
		if err != nil || string(r.JSON) != string(resp.JSON) || r.FetchedTS != 1000 || r.ValidUntilTS != 10*day {
			t.Fatalf("Response: %+v, %v", r, err)
		}
		if none, err := s2.Keys(ctx, "b.example"); err != nil || len(none) != 0 {
			t.Fatalf("Keys of an unknown server: %v, %v", none, err)
		}
	})
}

// TestStore_ValidityNeverShrinks: a row is only replaced by one valid at
// least as long, so an older copy of a response (say, from a notary's
// cache) cannot cut short a validity we already know; the latest response
// row is only replaced by a later fetch.
func TestStore_ValidityNeverShrinks(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		save := func(k Key, fetched int64) {
			t.Helper()
			k.ServerName, k.KeyID, k.FetchedTS = "a.example", "ed25519:k", fetched
			if k.PublicKey == nil {
				k.PublicKey = pub(1)
			}
			r := Response{ServerName: "a.example", FromServer: k.FromServer, FetchedTS: fetched, ValidUntilTS: k.ValidUntilTS, JSON: []byte(`{"v":` + string(rune('0'+fetched%10)) + `}`)}
			if err := s.Save(ctx, r, []Key{k}); err != nil {
				t.Fatal(err)
			}
		}
		load := func() Key {
			t.Helper()
			ks, err := s.Keys(ctx, "a.example")
			if err != nil || len(ks) != 1 {
				t.Fatalf("Keys: %v, %v", ks, err)
			}
			return ks[0]
		}
		save(Key{ValidUntilTS: 3 * day, FromServer: "a.example"}, 2*day)
		save(Key{ValidUntilTS: 2 * day, FromServer: "notary.example"}, 2*day+1) // shorter: ignored
		if k := load(); k.ValidUntilTS != 3*day || k.FromServer != "a.example" {
			t.Fatalf("a shorter validity replaced a longer one: %+v", k)
		}
		save(Key{ValidUntilTS: 4 * day, FromServer: "a.example"}, 3*day)
		if k := load(); k.ValidUntilTS != 4*day || k.FetchedTS != 3*day {
			t.Fatalf("a longer validity did not replace: %+v", k)
		}
		// The 7-day cap counts: valid_until far away but fetched long ago
		// is bounded by fetch + 7 days.
		far := Key{ValidUntilTS: 1000 * day, FetchedTS: 1}
		if b := far.ValidBound(); b != 1+7*day {
			t.Fatalf("ValidBound = %d, want fetch + 7 days", b)
		}
		r, _ := s.Response(ctx, "a.example")
		if r.FetchedTS != 3*day {
			t.Fatalf("response row is from %d, want the latest fetch", r.FetchedTS)
		}
		// An older response does not replace the stored one.
		if err := s.Save(ctx, Response{ServerName: "a.example", FromServer: "x", FetchedTS: 1, ValidUntilTS: 1, JSON: []byte(`{}`)}, nil); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Response(ctx, "a.example"); r.FetchedTS != 3*day {
			t.Fatalf("an older response replaced a newer one: %+v", r)
		}
	})
}

// TestKeysOf: a parsed response becomes rows stamped with its fetch time;
// a key in both lists counts as current.
func TestKeysOf(t *testing.T) {
	r := &signing.ServerKeys{
		ServerName:    "a.example",
		VerifyKeys:    map[signing.KeyID]signing.VerifyKey{"ed25519:a": {Key: signing.Base64Bytes(pub(1))}},
		OldVerifyKeys: map[signing.KeyID]signing.OldVerifyKey{"ed25519:a": {Key: signing.Base64Bytes(pub(1)), ExpiredTS: 5}, "ed25519:b": {Key: signing.Base64Bytes(pub(2)), ExpiredTS: 7}},
		ValidUntilTS:  100,
		FetchedTS:     50,
	}
	ks := KeysOf(r, "n.example")
	if len(ks) != 2 {
		t.Fatalf("got %d keys", len(ks))
	}
	for _, k := range ks {
		switch k.KeyID {
		case "ed25519:a":
			if k.ExpiredTS != 0 || k.ValidUntilTS != 100 || k.ValidBound() != 100 {
				t.Fatalf("current key: %+v", k)
			}
		case "ed25519:b":
			if k.ExpiredTS != 7 || k.ValidBound() != 7 || k.FetchedTS != 50 || k.FromServer != "n.example" {
				t.Fatalf("old key: %+v", k)
			}
		}
	}
}
