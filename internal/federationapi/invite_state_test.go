package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// PUT /v2/invite (spec v1.16, MSC4311): for room versions whose room ID is
// the create event's hash, invite_room_state must hold m.room.create, and
// every entry must be an event of the room in the version's format;
// otherwise 400 M_INVALID_PARAM.
func TestInvite_RoomStateCheckedForRoomVersion12(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		const carol = "@carol:hs2.test"
		roomID, err := r.hs2.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: carol, Preset: "private_chat", Version: roomversion.MustGet("12")})
		if err != nil {
			t.Fatal(err)
		}
		view, err := r.hs2.e.CurrentView(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		create, joinRules := view.Get(event.TypeCreate, ""), view.Get(event.TypeJoinRules, "")
		other, err := r.hs2.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: carol, Preset: "private_chat", Version: roomversion.MustGet("12")})
		if err != nil {
			t.Fatal(err)
		}
		otherView, _ := r.hs2.e.CurrentView(ctx, other)
		otherCreate := otherView.Get(event.TypeCreate, "")

		invite := func(target string, roomState []any) (int, []byte) {
			t.Helper()
			ev, err := r.hs2.e.BuildEvent(ctx, roomID, &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: carol,
				Content: json.RawMessage(`{"membership":"invite"}`)})
			if err != nil {
				t.Fatal(err)
			}
			return r.do("hs2.test", "PUT", "/_matrix/federation/v2/invite/"+url.PathEscape(roomID)+"/"+url.PathEscape(ev.EventID()),
				map[string]any{"room_version": "12", "event": json.RawMessage(ev.FederationJSON()), "invite_room_state": roomState})
		}
		pdu := func(e *event.Event) any { return json.RawMessage(e.FederationJSON()) }
		stripped := map[string]any{"type": event.TypeCreate, "state_key": "", "sender": carol, "content": json.RawMessage(create.Content())}
		for _, c := range []struct {
			name  string
			state []any
		}{
			{"no m.room.create", []any{pdu(joinRules)}},
			{"stripped events instead of whole ones", []any{stripped}},
			{"an event of another room", []any{pdu(create), pdu(otherCreate)}},
		} {
			status, body := invite("@alice:"+us, c.state)
			if status != http.StatusBadRequest {
				t.Errorf("%s: status %d (%s), want 400", c.name, status, body)
			} else if code := errcode(body); code != "M_INVALID_PARAM" {
				t.Errorf("%s: errcode %s, want M_INVALID_PARAM", c.name, code)
			}
		}
		status, body := invite("@alice:"+us, []any{pdu(create), pdu(joinRules)})
		if status != http.StatusOK {
			t.Fatalf("invite with the room's events: %d %s", status, body)
		}
	})
}

func errcode(body []byte) string {
	var e struct{ Errcode string }
	_ = json.Unmarshal(body, &e)
	return e.Errcode
}
