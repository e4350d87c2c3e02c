package e2eestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Each one-time key is given out once, also to claims running at the same
// time; when they run out, every further claim gets the fallback key.
func TestClaimKeys_ConcurrentClaimsNeverShareAOneTimeKey(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		up := Upload{MaxOneTimeKeys: 100, FallbackKeys: []OneTimeKey{{Algorithm: "alg", KeyID: "F", JSON: json.RawMessage(`"f"`)}}}
		for i := range 5 {
			up.OneTimeKeys = append(up.OneTimeKeys, OneTimeKey{Algorithm: "alg", KeyID: fmt.Sprint("K", i), JSON: json.RawMessage(`"k"`)})
		}
		if _, err := s.Upload(ctx, "@b:hs", "D", up); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.ClaimKeys(ctx, []Claim{{UserID: "@b:hs", DeviceID: "D", Algorithm: "alg"}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, res[0].Key.KeyID)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Strings(got)
		if fmt.Sprint(got) != "[F F F K0 K1 K2 K3 K4]" {
			t.Fatalf("claimed %v", got)
		}
		counts, unused, err := s.KeyCounts(ctx, "@b:hs", "D")
		if err != nil || len(counts) != 0 {
			t.Fatalf("counts %v %v", counts, err)
		}
		if len(unused) != 0 {
			t.Fatalf("fallback still unused: %v", unused)
		}
	})
}

// The per-device bound on stored one-time keys refuses the whole upload.
func TestUpload_OneTimeKeysBoundedPerDevice(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		key := func(i int) OneTimeKey {
			return OneTimeKey{Algorithm: "alg", KeyID: fmt.Sprint("K", i), JSON: json.RawMessage(`"k"`)}
		}
		if _, err := s.Upload(ctx, "@b:hs", "D", Upload{MaxOneTimeKeys: 2, OneTimeKeys: []OneTimeKey{key(1), key(2)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Upload(ctx, "@b:hs", "D", Upload{MaxOneTimeKeys: 2, OneTimeKeys: []OneTimeKey{key(3)}}); !errors.Is(err, ErrTooManyKeys) {
			t.Fatalf("over the bound: %v", err)
		}
		if counts, _ := s.OneTimeKeyCounts(ctx, "@b:hs", "D"); counts["alg"] != 2 {
			t.Fatalf("counts %v", counts)
		}
	})
}

// Claims of several devices at once, racing each other, hand out every
// one-time key exactly once across all of them (the claim's DELETE ...
// RETURNING decides who gets a key), and only then the fallback keys.
func TestClaimKeys_ConcurrentBatchClaimsHandOutEachKeyOnce(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		devices := []string{"D1", "D2", "D3"}
		const keysPerDevice, claimers = 10, 12
		for _, d := range devices {
			up := Upload{MaxOneTimeKeys: 100, FallbackKeys: []OneTimeKey{{Algorithm: "alg", KeyID: "F" + d, JSON: json.RawMessage(`"f"`)}}}
			for i := range keysPerDevice {
				up.OneTimeKeys = append(up.OneTimeKeys, OneTimeKey{Algorithm: "alg", KeyID: fmt.Sprintf("%s-K%02d", d, i), JSON: json.RawMessage(`"k"`)})
			}
			if _, err := s.Upload(ctx, "@b:hs", d, up); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]int{}
		fallbacks := 0
		var wg sync.WaitGroup
		for range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var claims []Claim
				for _, d := range devices {
					claims = append(claims, Claim{UserID: "@b:hs", DeviceID: d, Algorithm: "alg"})
				}
				res, err := s.ClaimKeys(ctx, claims)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range res {
					if !r.OK {
						t.Error("a claim got no key")
					} else if r.Fallback {
						fallbacks++
					} else {
						seen[r.Key.KeyID]++
					}
				}
			}()
		}
		wg.Wait()
		if len(seen) != len(devices)*keysPerDevice {
			t.Fatalf("%d distinct one-time keys handed out, want %d", len(seen), len(devices)*keysPerDevice)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("key %s handed out %d times", id, n)
			}
		}
		if want := len(devices) * (claimers - keysPerDevice); fallbacks != want {
			t.Errorf("%d fallback keys, want %d", fallbacks, want)
		}
	})
}

// keys.yaml (claimKeys, spec v1.13): "One-time keys are given out in the
// order that they were uploaded", whatever their key IDs.
func TestClaimKeys_GivenOutInUploadOrder(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		for _, batch := range [][]string{{"zz", "zy"}, {"aa"}, {"mm"}} {
			var up Upload
			up.MaxOneTimeKeys = 100
			for _, id := range batch {
				up.OneTimeKeys = append(up.OneTimeKeys, OneTimeKey{Algorithm: "alg", KeyID: id, JSON: json.RawMessage(`"k"`)})
			}
			if _, err := s.Upload(ctx, "@b:hs", "D", up); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for range 4 {
			res, err := s.ClaimKeys(ctx, []Claim{{UserID: "@b:hs", DeviceID: "D", Algorithm: "alg"}})
			if err != nil || !res[0].OK {
				t.Fatalf("claim: %v %v", res, err)
			}
			got = append(got, res[0].Key.KeyID)
		}
		// The first upload's two keys in either order, then the others.
		if first := fmt.Sprint(got[:2]); (first != "[zy zz]" && first != "[zz zy]") || got[2] != "aa" || got[3] != "mm" {
			t.Fatalf("claimed %v, want the uploads' order", got)
		}
	})
}

// KeyCounts answers both of /sync's questions in one read: unclaimed
// one-time keys by algorithm, and the unused fallback key algorithms,
// sorted (client-server-api "GET /sync": device_one_time_keys_count,
// device_unused_fallback_key_types).
func TestKeyCounts_OneTimeKeysByAlgorithmAndUnusedFallbackTypes(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		k := func(alg, id string) OneTimeKey {
			return OneTimeKey{Algorithm: alg, KeyID: id, JSON: json.RawMessage(`"k"`)}
		}
		up := Upload{MaxOneTimeKeys: 10,
			OneTimeKeys:  []OneTimeKey{k("b", "1"), k("b", "2"), k("a", "3")},
			FallbackKeys: []OneTimeKey{k("z", "F1"), k("b", "F2")}}
		if _, err := s.Upload(ctx, "@b:hs", "D", up); err != nil {
			t.Fatal(err)
		}
		counts, unused, err := s.KeyCounts(ctx, "@b:hs", "D")
		if err != nil || fmt.Sprint(counts, unused) != "map[a:1 b:2] [b z]" {
			t.Fatalf("got %v %v %v", counts, unused, err)
		}
		// Another device's keys are its own.
		counts, unused, err = s.KeyCounts(ctx, "@b:hs", "E")
		if err != nil || len(counts) != 0 || len(unused) != 0 || unused == nil {
			t.Fatalf("other device: %v %#v %v", counts, unused, err)
		}
	})
}
