package rooms

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// oneKey is a key ring that knows one server's one key.
type oneKey struct {
	server string
	key    signing.SigningKey
}

func (k oneKey) VerifyKey(server string, _ signing.KeyID, _ int64) (ed25519.PublicKey, bool) {
	return k.key.Public(), server == k.server
}

// The room state sent with an invite or a knock (spec v1.16, MSC4311):
// whole, correctly signed events of the room with the content they were
// signed with, m.room.create among them. Stripped events, forged
// signatures, altered content and another room's events (for v12, its
// create event, whose room ID is its own hash) are refused one by one; a
// missing create event is reported.
func TestCheckRoomStatePDUs(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		key, _ := signing.NewSigningKey("test", make([]byte, 32)) // newEngine's
		ring := oneKey{"hs1", key}
		verify := func(_ context.Context, ev *event.Event) (*event.Event, error) { return ev, ev.VerifySignatures(ring) }
		v := roomversion.MustGet("12")
		name := "Knock knock"
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: v, Preset: "public_chat", Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		other, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Version: v, Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		view, _ := e.CurrentView(ctx, roomID)
		otherView, _ := e.CurrentView(ctx, other)
		pdu := func(ev *event.Event) json.RawMessage { return json.RawMessage(ev.FederationJSON()) }
		edit := func(ev *event.Event, change func(m map[string]any)) json.RawMessage {
			var m map[string]any
			if err := json.Unmarshal(ev.FederationJSON(), &m); err != nil {
				t.Fatal(err)
			}
			change(m)
			raw, _ := json.Marshal(m)
			return raw
		}
		create, rules, named := view.Get(event.TypeCreate, ""), view.Get(event.TypeJoinRules, ""), view.Get(event.TypeName, "")
		good := []json.RawMessage{pdu(create), pdu(rules), pdu(named)}

		kept, err := CheckRoomStatePDUs(ctx, v, roomID, good, verify)
		if err != nil || len(kept) != 3 {
			t.Fatalf("the room's own events: kept %d, %v", len(kept), err)
		}
		stripped, _ := json.Marshal(map[string]any{"type": event.TypeName, "state_key": "", "sender": "@alice:hs1",
			"content": map[string]any{"name": "Knock knock"}})
		forged := edit(rules, func(m map[string]any) {
			m["signatures"] = map[string]any{"hs1": map[string]any{"ed25519:test": named.Signatures()["hs1"]["ed25519:test"]}}
		})
		altered := edit(named, func(m map[string]any) { m["content"] = map[string]any{"name": "Free money"} })
		for _, c := range []struct {
			name string
			bad  json.RawMessage
		}{
			{"a stripped event", stripped},
			{"a forged signature", forged},
			{"content altered after signing", altered},
			{"another room's create event", pdu(otherView.Get(event.TypeCreate, ""))},
			{"another room's event", pdu(otherView.Get(event.TypeJoinRules, ""))},
		} {
			kept, err := CheckRoomStatePDUs(ctx, v, roomID, append(slices.Clone(good), c.bad), verify)
			if err == nil || len(kept) != 3 || string(kept[2]) != string(good[2]) {
				t.Errorf("%s: kept %d entries, problem %v; want the 3 good ones and a problem", c.name, len(kept), err)
			}
		}
		if kept, err := CheckRoomStatePDUs(ctx, v, roomID, good[1:], verify); err == nil || len(kept) != 2 {
			t.Errorf("without m.room.create: kept %d, problem %v; want both kept and a problem", len(kept), err)
		}
	})
}
