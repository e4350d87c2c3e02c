package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// syncWorld is a Syncer with the to-device stream and one device,
// @bob:hs1's BOB, on real storage.
type syncWorld struct {
	svc    *Service
	syncer *syncapi.Syncer
}

func newSyncWorld(tb testing.TB, db *sqldb.DB) *syncWorld {
	ctx := context.Background()
	rs, err := roomstore.New(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	key, _ := signing.NewSigningKey("bench", make([]byte, 32))
	engine := rooms.New(rooms.Config{Store: rs, ServerName: "hs1", Key: key, Stream: streams.NewTracker(0), Notifier: streams.NewNotifier()})
	tb.Cleanup(engine.Close)
	acct, err := accounts.New(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := acct.CreateUser(ctx, accounts.NewUser{UserID: "@bob:hs1"}, &accounts.NewSession{UserID: "@bob:hs1", DeviceID: "BOB",
		AccessTokenHash: []byte("bench token")}); err != nil {
		tb.Fatal(err)
	}
	store, err := e2eestore.New(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := New(ctx, Config{Store: store, Devices: acct, Rooms: rs, RoomNow: engine.Stream().Current, Notifier: engine.Notifier(), ServerName: "hs1"})
	if err != nil {
		tb.Fatal(err)
	}
	syncer := syncapi.New(engine, nil, nil)
	syncer.AddStream(svc.ToDeviceStream())
	syncer.SetDeviceKeyCounts(svc)
	return &syncWorld{svc: svc, syncer: syncer}
}

// queue puts n messages in BOB's queue in one transaction, as n requests
// from n senders would.
func (w *syncWorld) queue(tb testing.TB, n int) {
	msgs := make([]e2eestore.ToDeviceMessage, n)
	for i := range msgs {
		content := fmt.Sprintf(`{"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"k","ciphertext":{"c":{"type":0,"body":"%0400d"}}}`, i)
		msgs[i] = e2eestore.ToDeviceMessage{Pos: w.svc.toDevice.Reserve(), UserID: "@bob:hs1", DeviceID: "BOB",
			Sender: "@alice:hs1", Type: "m.room.encrypted", Content: json.RawMessage(content)}
	}
	_, _, err := w.svc.store.EnqueueToDevice(context.Background(), nil, msgs, MaxQueuedPerDevice, 0)
	for _, m := range msgs {
		w.svc.toDevice.Finish(m.Pos)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func (w *syncWorld) sync(tb testing.TB, since string) *syncapi.Response {
	resp, err := w.syncer.Sync(context.Background(), syncapi.Request{UserID: "@bob:hs1", DeviceID: "BOB", Since: since})
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

// BenchmarkSync_PendingToDevice is one /sync of a device with n to-device
// messages waiting (1 000 is the case): it carries the first 100,
// so its cost should not grow with n.
func BenchmarkSync_PendingToDevice(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				w := newSyncWorld(b, db)
				w.queue(b, n)
				for b.Loop() {
					if got := len(w.sync(b, "").ToDevice.Events); got != ToDevicePerSync {
						b.Fatalf("%d messages", got)
					}
				}
			})
		})
	}
}

// BenchmarkSync_DrainToDevice delivers n waiting messages through
// successive syncs, each acknowledging (deleting) the previous batch, until
// the queue is empty: the whole exactly-once path.
func BenchmarkSync_DrainToDevice(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				w := newSyncWorld(b, db)
				since := w.sync(b, "").NextBatch
				for b.Loop() {
					b.StopTimer()
					w.queue(b, n)
					b.StartTimer()
					got := 0
					for {
						resp := w.sync(b, since)
						since = resp.NextBatch
						if len(resp.ToDevice.Events) == 0 {
							break
						}
						got += len(resp.ToDevice.Events)
					}
					if got != n {
						b.Fatalf("delivered %d", got)
					}
				}
			})
		})
	}
}
