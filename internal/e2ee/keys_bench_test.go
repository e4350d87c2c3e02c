package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// BenchmarkKeysClaim: /keys/claim of one signed_curve25519 key for each of
// n local devices (n users with a device each, as a client sharing a room
// key with a room of new devices does; 100 is the case): one-time
// keys while they last, and devices down to their fallback key.
func BenchmarkKeysClaim(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { benchmarkKeysClaim(b, n) })
	}
}

func benchmarkKeysClaim(b *testing.B, devices int) {
	const refill = 50
	const alg = "signed_curve25519"
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		ctx := context.Background()
		svc, acct := newEngineService(b, db, roomstest.NewEngine(b, db, "hs1"))
		key := func(id string) e2eestore.OneTimeKey {
			return e2eestore.OneTimeKey{Algorithm: alg, KeyID: id,
				JSON: json.RawMessage(fmt.Sprintf(`{"key":"%043d","signatures":{}}`, len(id)))}
		}
		req := map[string]map[string]string{}
		for i := range devices {
			u := fmt.Sprintf("@claimed%d:hs1", i)
			if _, err := acct.CreateUser(ctx, accounts.NewUser{UserID: u}, &accounts.NewSession{UserID: u, DeviceID: "D",
				AccessTokenHash: []byte(u)}); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.store.Upload(ctx, u, "D", e2eestore.Upload{FallbackKeys: []e2eestore.OneTimeKey{key("fallback")}}); err != nil {
				b.Fatal(err)
			}
			req[u] = map[string]string{"D": alg}
		}
		// uploads gives every device n more one-time keys.
		batch := 0
		uploads := func(n int) {
			for u := range req {
				otks := make([]e2eestore.OneTimeKey, n)
				for j := range otks {
					otks[j] = key(fmt.Sprintf("k%d_%d", batch, j))
				}
				if _, err := svc.store.Upload(ctx, u, "D", e2eestore.Upload{OneTimeKeys: otks, MaxOneTimeKeys: MaxOneTimeKeysPerDevice}); err != nil {
					b.Fatal(err)
				}
			}
			batch++
		}
		claim := func(b *testing.B, wantFallback bool) {
			res, err := svc.Claim(ctx, req, time.Second)
			if err != nil || len(res.OneTimeKeys) != devices {
				b.Fatalf("claimed for %d devices, %v", len(res.OneTimeKeys), err)
			}
			for u, devs := range res.OneTimeKeys {
				if _, fb := devs["D"][alg+":fallback"]; fb != wantFallback {
					b.Fatalf("%s: claimed %v, want the fallback key: %v", u, devs, wantFallback)
				}
			}
		}
		b.Run("one-time", func(b *testing.B) {
			left := 0
			for b.Loop() {
				if left == 0 {
					b.StopTimer()
					uploads(refill)
					left = refill
					b.StartTimer()
				}
				claim(b, false)
				left--
			}
		})
		// Claim the one-time keys the loop left (the benchmark function can
		// run more than once), down to the fallback keys.
		for range batch*refill + 1 {
			res, err := svc.Claim(ctx, req, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if _, fb := res.OneTimeKeys["@claimed0:hs1"]["D"][alg+":fallback"]; fb {
				break
			}
		}
		b.Run("fallback", func(b *testing.B) {
			for b.Loop() {
				claim(b, true)
			}
		})
	})
}
