package receipts

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const alice, rita, remoteServer = "@alice:hs1", "@rita:hs2", "hs2"

// server-server-api "Receipts": a server speaks only for its own users, only
// m.read crosses servers, and rooms whose ACL denies the server are
// skipped; what passes is stored and readable at the stream's position.
func TestReceipts_ReceivedEDUsAreChecked(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := roomstest.NewEngine(t, db, "hs1")
		room := roomstest.PublicRoom(t, e, alice, rita)
		msg := roomstest.Say(t, e, room, alice, "hi")
		store, err := receiptstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := New(ctx, Config{Store: store, Rooms: e, ServerName: "hs1"})
		if err != nil {
			t.Fatal(err)
		}
		edu := func(origin, typ, user string, allowed bool) error {
			content, _ := json.Marshal(map[string]any{room: map[string]any{typ: map[string]any{
				user: map[string]any{"event_ids": []string{msg.EventID()}, "data": map[string]any{"ts": 42}}}}})
			return svc.HandleEDU(ctx, federationapi.InboundEDU{Origin: origin, Type: EDUType, Content: content,
				RoomAllowed: func(context.Context, string) bool { return allowed }})
		}
		stored := func(typ, user string) bool {
			t.Helper()
			r, err := store.Get(ctx, room, typ, user, "")
			if err != nil {
				t.Fatal(err)
			}
			return r != nil
		}
		if err := edu("evil.test", Read, rita, true); err == nil || stored(Read, rita) {
			t.Error("a forged receipt for hs2's user from evil.test was stored")
		}
		if err := edu("hs1.evil", Read, alice, true); err == nil || stored(Read, alice) {
			t.Error("a forged receipt for our own user was stored")
		}
		if err := edu(remoteServer, Read, rita, false); err == nil || stored(Read, rita) {
			t.Error("a receipt from a server the room's ACL denies was stored")
		}
		if _ = edu(remoteServer, ReadPrivate, rita, true); stored(ReadPrivate, rita) {
			t.Error("an m.read.private receipt was taken over federation")
		}
		if err := edu(remoteServer, Read, "@stranger:hs2", true); err == nil || stored(Read, "@stranger:hs2") {
			t.Error("a receipt for a user not in the room was stored")
		}
		before := svc.Current()
		if err := edu(remoteServer, Read, rita, true); err != nil || !stored(Read, rita) {
			t.Fatalf("a valid receipt: %v", err)
		}
		if svc.Current() <= before {
			t.Error("the stream did not advance")
		}
		// A restarted service continues after what is stored.
		again, err := New(ctx, Config{Store: store, Rooms: e, ServerName: "hs1"})
		if err != nil || again.Current() != svc.Current() {
			t.Errorf("restarted at %d, want %d (%v)", again.Current(), svc.Current(), err)
		}
	})
}

// An m.receipt EDU that names an event this server does not hold yet is
// kept, not dropped (Synapse stores such receipts too), bounded per user,
// and applied once the event is stored; one whose event never comes is
// forgotten after a day. See pending.go.
func TestReceipts_ReceiptsForEventsNotYetHeldWaitForThem(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := roomstest.NewEngine(t, db, "hs1")
		room := roomstest.PublicRoom(t, e, alice, rita)
		store, err := receiptstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		clock := roomstest.NewClock()
		svc, err := New(ctx, Config{Store: store, Rooms: e, ServerName: "hs1", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		edu := func(eventID, thread string) error {
			data := map[string]any{"ts": 42}
			if thread != "" {
				data["thread_id"] = thread
			}
			content, _ := json.Marshal(map[string]any{room: map[string]any{Read: map[string]any{
				rita: map[string]any{"event_ids": []string{eventID}, "data": data}}}})
			return svc.HandleEDU(ctx, federationapi.InboundEDU{Origin: remoteServer, Type: EDUType, Content: content,
				RoomAllowed: func(context.Context, string) bool { return true }})
		}
		if err := edu("$not-here-yet", ""); err != nil {
			t.Fatalf("a receipt for an event not held yet: %v", err)
		}
		if r, _ := store.Get(ctx, room, Read, rita, ""); r != nil {
			t.Fatalf("stored before its event: %+v", r)
		}
		ps, err := store.PendingReceipts(ctx, 100)
		if err != nil || len(ps) != 1 || ps[0].EventID != "$not-here-yet" || ps[0].TS != 42 {
			t.Fatalf("pending %+v, %v", ps, err)
		}

		// One per thread, and no more than maxPendingPerUser of them.
		for i := 1; i < maxPendingPerUser; i++ {
			if err := edu(fmt.Sprintf("$later%d", i), fmt.Sprintf("$root%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := edu("$one-too-many", "$rootX"); err == nil {
			t.Error("a receipt past the pending bound was kept")
		}

		// The event arrives: a pass applies the receipt at its position.
		// Which event a pending receipt names is all that matters, so the
		// first one is made to name an event that exists now.
		msg := roomstest.Say(t, e, room, alice, "arrived")
		first := ps[0]
		first.EventID = msg.EventID()
		if err := store.PutPending(ctx, first); err != nil {
			t.Fatal(err)
		}
		before := svc.Current()
		if err := svc.ResolvePending(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := store.Get(ctx, room, Read, rita, "")
		if err != nil || r == nil || r.EventID != msg.EventID() || r.TS != 42 || svc.Current() <= before {
			t.Fatalf("after the event arrived: %+v, %v (stream %d → %d)", r, err, before, svc.Current())
		}
		if left, _ := store.PendingReceipts(ctx, 100); len(left) != maxPendingPerUser-1 {
			t.Fatalf("%d still pending, want %d", len(left), maxPendingPerUser-1)
		}

		// A day later the rest are forgotten.
		clock.Add(pendingTTL + time.Minute)
		if err := svc.ResolvePending(ctx); err != nil {
			t.Fatal(err)
		}
		if left, _ := store.PendingReceipts(ctx, 100); len(left) != 0 {
			t.Fatalf("%d pending after a day", len(left))
		}
	})
}
