package server_test

import (
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin: the
// room's most powerful local member gives the user admin power and
// invites them into a room that is not public; with no local member able
// to change the power levels, 400.
func TestAdminAPI_MakeRoomAdmin(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob, carol := newAdmin(t, s, "admin"), s.Register("bob"), s.Register("carol")
		for _, version := range []string{"10", "12"} {
			room := bob.CreateRoom(map[string]any{"preset": "private_chat", "room_version": version})
			admin.MustDo("POST", adminV1+"/rooms/"+esc(room)+"/make_room_admin", map[string]any{}, nil)
			admin.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
			var pl struct {
				Users map[string]int64 `json:"users"`
			}
			admin.MustDo("GET", servertest.Room(room)+"/state/m.room.power_levels/", nil, &pl)
			if pl.Users[admin.UserID] != 100 {
				t.Errorf("v%s: admin's level %d, want 100: %+v", version, pl.Users[admin.UserID], pl)
			}
			// With that power the admin may change the power levels.
			pl.Users[carol.UserID] = 50
			admin.MustDo("PUT", servertest.Room(room)+"/state/m.room.power_levels/", map[string]any{"users": pl.Users}, nil)
		}

		// A room whose only local member has left: nobody can grant power.
		room := bob.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		status, raw := admin.Do("POST", adminV1+"/rooms/"+esc(room)+"/make_room_admin", map[string]any{"user_id": carol.UserID}, nil)
		expectStatus(t, "no local admin", status, raw, http.StatusBadRequest, "M_UNKNOWN")
		status, raw = admin.Do("POST", adminV1+"/rooms/"+esc("!nope:localhost")+"/make_room_admin", nil, nil)
		expectStatus(t, "unknown room", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = bob.Do("POST", adminV1+"/rooms/"+esc(room)+"/make_room_admin", nil, nil)
		expectStatus(t, "non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		status, raw = s.Anonymous().Do("POST", adminV1+"/rooms/"+esc(room)+"/make_room_admin", nil, nil)
		expectStatus(t, "anonymous", status, raw, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

// GET /_synapse/admin/v1/rooms/{roomId}/messages: a room's /messages for a
// server admin who is not in it, without history visibility (the admin
// sees what members saw before the admin could have); members' own
// rules stay theirs; others are refused, unknown rooms are 404.
func TestAdminAPI_RoomMessages(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, alice, bob := newAdmin(t, s, "admin"), s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat", "initial_state": []any{map[string]any{
			"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
		alice.SendText(room, "first")
		alice.SendText(room, "second")

		var page struct {
			Chunk []struct {
				Type    string         `json:"type"`
				Content map[string]any `json:"content"`
			} `json:"chunk"`
			Start string `json:"start"`
			End   string `json:"end"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(room)+"/messages?dir=b&limit=2", nil, &page)
		if len(page.Chunk) != 2 || page.Chunk[0].Content["body"] != "second" || page.Chunk[1].Content["body"] != "first" || page.End == "" {
			t.Fatalf("admin's page = %+v", page)
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(room)+"/messages?dir=b&from="+page.End, nil, &page)
		if len(page.Chunk) == 0 || page.Chunk[len(page.Chunk)-1].Type != "m.room.create" {
			t.Errorf("the admin's next page does not reach the room's creation: %+v", page.Chunk)
		}
		if code, raw := bob.Do("GET", adminV1+"/rooms/"+esc(room)+"/messages", nil, nil); code != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("non-admin: %d %s", code, raw)
		}
		if code, raw := admin.Do("GET", adminV1+"/rooms/"+esc("!nope:localhost")+"/messages", nil, nil); code != http.StatusNotFound {
			t.Errorf("unknown room: %d %s", code, raw)
		}
	})
}
