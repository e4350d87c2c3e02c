package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// countingEDUs counts the EDUs the service hands to the federation
// sender. The benchmarks measure the service's side of a device change;
// the sender's queue writes are the sender's own benchmarks' business.
type countingEDUs struct{ n atomic.Int64 }

func (c *countingEDUs) SendEDU(context.Context, string, json.RawMessage, string) error {
	c.n.Add(1)
	return nil
}

// newEngineService is the service of hs1 on db, over engine's rooms.
func newEngineService(b *testing.B, db *sqldb.DB, engine *rooms.Engine) (*Service, accounts.Store) {
	ctx := context.Background()
	acct, err := accounts.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	store, err := e2eestore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(ctx, Config{Store: store, Devices: acct, Rooms: engine.Store(), RoomNow: engine.Stream().Current,
		Notifier: engine.Notifier(), ServerName: "hs1"})
	if err != nil {
		b.Fatal(err)
	}
	return svc, acct
}

// BenchmarkDeviceListFanOut: @alice:hs1 is in n rooms, each with a local
// member and a member of its own other server, and adds a device: the
// change is stored, the 2n local co-members' syncs are woken, one
// m.device_list_update per server is queued, and a co-member's next
// incremental sync computes its device_lists.
func BenchmarkDeviceListFanOut(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				ctx := context.Background()
				engine := roomstest.NewEngine(b, db, "hs1")
				for i := range n {
					roomstest.PublicRoom(b, engine, "@alice:hs1", fmt.Sprintf("@local%d:hs1", i), fmt.Sprintf("@remote%d:s%d.example", i, i))
				}
				svc, acct := newEngineService(b, db, engine)
				if _, err := acct.CreateUser(ctx, accounts.NewUser{UserID: "@alice:hs1"}, &accounts.NewSession{UserID: "@alice:hs1",
					DeviceID: "PHONE", AccessTokenHash: []byte("t")}); err != nil {
					b.Fatal(err)
				}
				edus := &countingEDUs{}
				svc.SetFederation(edus)
				room := engine.Stream().Current()
				b.Run("notify", func(b *testing.B) {
					edus.n.Store(0)
					for b.Loop() {
						if err := svc.NotifyKeysChanged(ctx, "@alice:hs1", "PHONE"); err != nil {
							b.Fatal(err)
						}
					}
					if per := edus.n.Load() / int64(b.N); per != int64(n) {
						b.Fatalf("%d EDUs per change, want %d", per, n)
					}
				})
				from := svc.devLists.tracker.Current()
				if err := svc.NotifyKeysChanged(ctx, "@alice:hs1", "PHONE"); err != nil {
					b.Fatal(err)
				}
				to := svc.devLists.tracker.Current()
				b.Run("co-member sync", func(b *testing.B) {
					for b.Loop() {
						changed, _, err := svc.devLists.changes(ctx, "@local0:hs1", from, to, room, room)
						if err != nil || len(changed) != 1 {
							b.Fatalf("changed %v, %v", changed, err)
						}
					}
				})
			})
		})
	}
}

// BenchmarkKeysQuery: /keys/query for 100 users with 10 devices each,
// local users, and other servers' users answered from the cache of their
// device lists (users a local user shares a room with).
func BenchmarkKeysQuery(b *testing.B) {
	const users, devices = 100, 10
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		ctx := context.Background()
		engine := roomstest.NewEngine(b, db, "hs1")
		svc, acct := newEngineService(b, db, engine)
		store := svc.store
		var err error
		keys := func(u, d string) json.RawMessage {
			return json.RawMessage(fmt.Sprintf(`{"algorithms":["m.olm.v1.curve25519-aes-sha2"],"device_id":%q,"keys":{"curve25519:%s":"c","ed25519:%s":"e"},"signatures":{},"user_id":%q}`, d, d, d, u))
		}
		local, remote := map[string][]string{}, map[string][]string{}
		var members []string
		for i := range users {
			u := fmt.Sprintf("@user%d:hs1", i)
			for j := range devices {
				d := fmt.Sprintf("D%d", j)
				s := accounts.NewSession{UserID: u, DeviceID: d, AccessTokenHash: []byte(u + d)}
				if j == 0 {
					_, err = acct.CreateUser(ctx, accounts.NewUser{UserID: u}, &s)
				} else {
					_, err = acct.CreateSession(ctx, s)
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, err := store.Upload(ctx, u, d, e2eestore.Upload{DeviceKeys: keys(u, d)}); err != nil {
					b.Fatal(err)
				}
			}
			local[u] = nil
			r := fmt.Sprintf("@user%d:remote.example", i)
			var devs []e2eestore.RemoteDevice
			for j := range devices {
				d := fmt.Sprintf("D%d", j)
				devs = append(devs, e2eestore.RemoteDevice{DeviceID: d, Keys: keys(r, d)})
			}
			if err := store.ReplaceRemoteDeviceList(ctx, r, 1, devs); err != nil {
				b.Fatal(err)
			}
			remote[r] = nil
			members = append(members, r)
		}
		roomstest.PublicRoom(b, engine, "@user0:hs1", members...)
		for name, q := range map[string]map[string][]string{"local": local, "remote-cached": remote} {
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					res, err := svc.Query(ctx, "@user0:hs1", q, time.Second)
					if err != nil || len(res.DeviceKeys) != users || len(res.Failures) != 0 {
						b.Fatalf("%d users, failures %v, %v", len(res.DeviceKeys), res.Failures, err)
					}
					for u, devs := range res.DeviceKeys {
						if len(devs) != devices {
							b.Fatalf("%s: %d devices", u, len(devs))
						}
					}
				}
			})
		}
	})
}
