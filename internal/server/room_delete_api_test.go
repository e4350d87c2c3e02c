package server_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type shutdownResult struct {
	KickedUsers       []string `json:"kicked_users"`
	FailedToKickUsers []string `json:"failed_to_kick_users"`
	LocalAliases      []string `json:"local_aliases"`
	NewRoomID         *string  `json:"new_room_id"`
}

type deleteStatus struct {
	DeleteID     string         `json:"delete_id"`
	Status       string         `json:"status"`
	Error        string         `json:"error"`
	ShutdownRoom shutdownResult `json:"shutdown_room"`
}

// waitDeleted polls a deletion's status until it has finished.
func waitDeleted(t *testing.T, admin *servertest.Client, deleteID string) deleteStatus {
	t.Helper()
	for range 1000 {
		var st deleteStatus
		admin.MustDo("GET", adminV2+"/rooms/delete_status/"+deleteID, nil, &st)
		if st.Status == "complete" || st.Status == "failed" {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the deletion never finished")
	return deleteStatus{}
}

// Synapse's Delete Room API, version 2: the room is blocked, its local
// members leave it for a new room the admin's chosen user runs (where they
// cannot talk), its aliases follow them, and it is purged: gone for every
// member and the admin API, and nobody here can join it again. The status
// is reported by delete ID and by room.
func TestAdminAPI_DeleteRoomMovesMembersAndPurges(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, alice, bob := newAdmin(t, s, "admin"), s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat", "room_alias_name": "bad", "visibility": "public"})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		alice.SendText(room, "something unlawful")
		alice.MustDo("PUT", "/_matrix/client/v3/user/"+esc(alice.UserID)+"/rooms/"+esc(room)+"/tags/u.work", map[string]any{}, nil)

		if code, raw := bob.Do("DELETE", adminV2+"/rooms/"+esc(room), map[string]any{}, nil); code != http.StatusForbidden {
			t.Fatalf("non-admin: %d %s", code, raw)
		}
		var started struct {
			DeleteID string `json:"delete_id"`
		}
		admin.MustDo("DELETE", adminV2+"/rooms/"+esc(room), map[string]any{
			"new_room_user_id": admin.UserID, "room_name": "Moved", "message": "This room was removed.", "block": true,
		}, &started)
		st := waitDeleted(t, admin, started.DeleteID)
		if st.Status != "complete" || st.Error != "" {
			t.Fatalf("deletion: %+v", st)
		}
		got := st.ShutdownRoom
		slices.Sort(got.KickedUsers)
		if !slices.Equal(got.KickedUsers, []string{alice.UserID, bob.UserID}) || len(got.FailedToKickUsers) != 0 ||
			!slices.Equal(got.LocalAliases, []string{"#bad:localhost"}) || got.NewRoomID == nil {
			t.Fatalf("result: %+v", got)
		}
		newRoom := *got.NewRoomID

		// The members are in the new room, which the alias now names, and
		// which greets them with the admin's message; they may not talk.
		var joined struct {
			JoinedRooms []string `json:"joined_rooms"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/joined_rooms", nil, &joined)
		if !slices.Equal(joined.JoinedRooms, []string{newRoom}) {
			t.Fatalf("alice's rooms: %v, want only %s", joined.JoinedRooms, newRoom)
		}
		var alias struct {
			RoomID string `json:"room_id"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/directory/room/"+esc("#bad:localhost"), nil, &alias)
		if alias.RoomID != newRoom {
			t.Fatalf("the alias names %s, want the new room %s", alias.RoomID, newRoom)
		}
		var msgs struct {
			Chunk []struct {
				Type    string         `json:"type"`
				Content map[string]any `json:"content"`
			} `json:"chunk"`
		}
		alice.MustDo("GET", servertest.Room(newRoom)+"/messages?dir=b&limit=50", nil, &msgs)
		if !slices.ContainsFunc(msgs.Chunk, func(e struct {
			Type    string         `json:"type"`
			Content map[string]any `json:"content"`
		}) bool {
			return e.Type == "m.room.message" && e.Content["body"] == "This room was removed."
		}) {
			t.Fatalf("the new room lacks the admin's message: %+v", msgs.Chunk)
		}
		if code, _ := alice.Do("PUT", servertest.Room(newRoom)+"/send/m.room.message/t1", map[string]any{"msgtype": "m.text", "body": "hi"}, nil); code != http.StatusForbidden {
			t.Fatalf("a moved user could talk in the new room: %d", code)
		}

		// The old room is gone and blocked.
		if code, _ := admin.Do("GET", adminV1+"/rooms/"+esc(room), nil, nil); code != http.StatusNotFound {
			t.Fatalf("admin room details after purge: %d, want 404", code)
		}
		if code, _ := alice.Do("GET", servertest.Room(room)+"/messages?dir=b", nil, nil); code == http.StatusOK {
			t.Fatal("the purged room's messages are still served")
		}
		if code, raw := bob.Do("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil); code == http.StatusOK {
			t.Fatalf("joined a deleted, blocked room: %s", raw)
		}
		var block struct {
			Block bool `json:"block"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(room)+"/block", nil, &block)
		if !block.Block {
			t.Fatal("the deleted room is not blocked")
		}
		var byRoom struct {
			Results []deleteStatus `json:"results"`
		}
		admin.MustDo("GET", adminV2+"/rooms/"+esc(room)+"/delete_status", nil, &byRoom)
		if len(byRoom.Results) != 1 || byRoom.Results[0].DeleteID != started.DeleteID || byRoom.Results[0].Status != "complete" {
			t.Fatalf("status by room: %+v", byRoom)
		}
		if code, raw := admin.Do("GET", adminV2+"/rooms/delete_status/nope", nil, nil); code != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Fatalf("unknown delete ID: %d %s", code, raw)
		}
		// Nothing of it is left in the domains' tables either.
		for _, table := range []string{"events", "current_state", "search_events", "event_relations", "receipts", "notifications", "userdir_members", "account_data"} {
			var n int
			if err := s.DB.Read.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE room_id = $1", room).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows of the purged room left in %s", n, table)
			}
		}
		// Everything else still works: the server is not disturbed.
		fresh := alice.CreateRoom(map[string]any{})
		alice.SendText(fresh, "still here")
	})
}

// Version 1 answers when done. Without purge the room stays in the
// database, empty of local users, who have forgotten it; unknown rooms can
// only be blocked; the new room's user must be local.
func TestAdminAPI_DeleteRoomV1(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, alice := newAdmin(t, s, "admin"), s.Register("alice")
		room := alice.CreateRoom(map[string]any{"room_alias_name": "gone"})
		var res shutdownResult
		admin.MustDo("DELETE", adminV1+"/rooms/"+esc(room), map[string]any{"purge": false}, &res)
		if !slices.Equal(res.KickedUsers, []string{alice.UserID}) || res.NewRoomID != nil || !slices.Equal(res.LocalAliases, []string{"#gone:localhost"}) {
			t.Fatalf("result: %+v", res)
		}
		var details struct {
			JoinedLocalMembers int `json:"joined_local_members"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(room), nil, &details)
		if details.JoinedLocalMembers != 0 {
			t.Fatalf("local members left: %+v", details)
		}
		if code, _ := alice.Do("GET", "/_matrix/client/v3/directory/room/"+esc("#gone:localhost"), nil, nil); code != http.StatusNotFound {
			t.Fatalf("the alias outlived its room: %d", code)
		}

		unknown := "!unknown:localhost"
		if code, raw := admin.Do("DELETE", adminV1+"/rooms/"+esc(unknown), map[string]any{}, nil); code != http.StatusBadRequest {
			t.Fatalf("unknown room without block: %d %s", code, raw)
		}
		admin.MustDo("DELETE", adminV1+"/rooms/"+esc(unknown), map[string]any{"block": true}, &res)
		var block struct {
			Block bool `json:"block"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(unknown)+"/block", nil, &block)
		if !block.Block {
			t.Fatal("an unknown room deleted with block: true is not blocked")
		}
		if code, raw := admin.Do("DELETE", adminV2+"/rooms/"+esc(room), map[string]any{"new_room_user_id": "@x:elsewhere"}, nil); code != http.StatusBadRequest {
			t.Fatalf("remote new_room_user_id: %d %s", code, raw)
		}
		if code, raw := admin.Do("DELETE", adminV2+"/rooms/not-a-room", map[string]any{}, nil); code != http.StatusBadRequest {
			t.Fatalf("bad room ID: %d %s", code, raw)
		}
	})
}

// A purge removes the room's events and the relations index in one
// transaction: when removing the relations fails (as a crash there would
// end it), the events are still there too, and a second deletion purges
// both.
func TestAdminAPI_PurgeTakesRelationsInTheSameCommit(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, alice := newAdmin(t, s, "admin"), s.Register("alice")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		target := alice.SendText(room, "react to me")
		alice.MustDo("PUT", servertest.Room(room)+"/send/m.reaction/r1", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target, "key": "👍"}}, nil)
		if countRows(t, s.DB, "event_relations", "room_id", room) != 1 {
			t.Fatal("the reaction is not in the relations index")
		}

		failWrites(t, s.DB, "DELETE", "event_relations")
		if code, raw := admin.Do("DELETE", adminV1+"/rooms/"+esc(room), map[string]any{"purge": true}, nil); code == http.StatusOK {
			t.Fatalf("the purge succeeded through the injected failure: %s", raw)
		}
		if events, rels := countRows(t, s.DB, "events", "room_id", room), countRows(t, s.DB, "event_relations", "room_id", room); events == 0 || rels != 1 {
			t.Fatalf("after a failed purge: %d events, %d relations (both or neither must be gone)", events, rels)
		}

		dropFailure(t, s.DB, "DELETE", "event_relations")
		admin.MustDo("DELETE", adminV1+"/rooms/"+esc(room), map[string]any{"purge": true}, nil)
		if events, rels := countRows(t, s.DB, "events", "room_id", room), countRows(t, s.DB, "event_relations", "room_id", room); events != 0 || rels != 0 {
			t.Errorf("after the purge: %d events, %d relations", events, rels)
		}
	})
}
