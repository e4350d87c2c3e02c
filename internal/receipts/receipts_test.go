package receipts

import (
	"context"
	"encoding/json"
	"testing"

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
