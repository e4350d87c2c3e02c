package keybackupstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
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

func keepLower(k, old SessionKey) bool { return k.FirstMessageIndex < old.FirstMessageIndex }

// Versions created at the same time get distinct numbers, and the last one
// is current.
func TestCreateVersion_ConcurrentCreatesGetDistinctVersions(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.CreateVersion(ctx, "@a:hs", "alg", json.RawMessage(`{}`), 100)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Strings(got)
		if fmt.Sprint(got) != "[1 2 3 4 5 6 7 8]" {
			t.Fatalf("versions %v", got)
		}
		cur, err := s.GetVersion(ctx, "@a:hs", "")
		if err != nil || cur.Version != "8" {
			t.Fatalf("current %+v %v", cur, err)
		}
		if _, err := s.CreateVersion(ctx, "@a:hs", "alg", json.RawMessage(`{}`), 8); err == nil {
			t.Fatal("a ninth live version was allowed")
		}
	})
}

// Uploads of the same session at the same time leave the best key, and
// the count counts it once.
func TestPutKeys_ConcurrentUploadsKeepTheBestKey(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		v, err := s.CreateVersion(ctx, "@a:hs", "alg", json.RawMessage(`{}`), 10)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := SessionKey{RoomID: "!r:hs", SessionID: "S", FirstMessageIndex: int64(10 - i), SessionData: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
				if _, _, err := s.PutKeys(ctx, "@a:hs", v, Put{Keys: []SessionKey{k}, Replaces: keepLower, MaxKeys: 100}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		keys, err := s.Keys(ctx, "@a:hs", v, "", "")
		if err != nil || len(keys) != 1 || keys[0].FirstMessageIndex != 3 {
			t.Fatalf("keys %+v %v", keys, err)
		}
		// The bound on stored keys refuses the whole upload.
		over := []SessionKey{{RoomID: "!r:hs", SessionID: "T1", SessionData: json.RawMessage(`{}`)}, {RoomID: "!r:hs", SessionID: "T2", SessionData: json.RawMessage(`{}`)}}
		if _, _, err := s.PutKeys(ctx, "@a:hs", v, Put{Keys: over, Replaces: keepLower, MaxKeys: 2}); err != ErrTooManyKeys {
			t.Fatalf("over the bound: %v", err)
		}
		if got, _ := s.GetVersion(ctx, "@a:hs", v); got.Count != 1 {
			t.Fatalf("count after a refused upload: %d", got.Count)
		}
	})
}
