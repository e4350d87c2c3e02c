package server_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type roomList struct {
	Rooms []struct {
		RoomID             string  `json:"room_id"`
		Name               *string `json:"name"`
		CanonicalAlias     *string `json:"canonical_alias"`
		JoinedMembers      int     `json:"joined_members"`
		JoinedLocalMembers int     `json:"joined_local_members"`
		Version            string  `json:"version"`
		Creator            string  `json:"creator"`
		Public             bool    `json:"public"`
		JoinRules          string  `json:"join_rules"`
		Federatable        bool    `json:"federatable"`
		StateEvents        int     `json:"state_events"`
	} `json:"rooms"`
	Offset     int  `json:"offset"`
	TotalRooms int  `json:"total_rooms"`
	NextBatch  *int `json:"next_batch"`
}

// The rooms admin API: list (search, order, pages), details, members,
// state, and joining a user to a room; all refused to non-admins.
func TestAdminAPI_Rooms(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		apple := admin.CreateRoom(map[string]any{"name": "Apple", "preset": "public_chat", "room_alias_name": "apple", "visibility": "public"})
		banana := admin.CreateRoom(map[string]any{"name": "Banana", "preset": "private_chat"})
		cherry := bob.CreateRoom(map[string]any{"name": "Cherry", "preset": "private_chat"})

		var all roomList
		admin.MustDo("GET", adminV1+"/rooms", nil, &all)
		if all.TotalRooms != 3 || len(all.Rooms) != 3 || all.Rooms[0].RoomID != apple || all.Rooms[2].RoomID != cherry || all.NextBatch != nil {
			t.Fatalf("rooms: %+v", all)
		}
		a := all.Rooms[0]
		if *a.Name != "Apple" || *a.CanonicalAlias != "#apple:localhost" || a.JoinedMembers != 1 || a.JoinedLocalMembers != 1 ||
			a.Creator != admin.UserID || !a.Public || a.JoinRules != "public" || !a.Federatable || a.StateEvents < 5 || a.Version == "" {
			t.Errorf("Apple: %+v", a)
		}
		var page roomList
		admin.MustDo("GET", adminV1+"/rooms?limit=1&from=1", nil, &page)
		if len(page.Rooms) != 1 || page.Rooms[0].RoomID != banana || page.NextBatch == nil || *page.NextBatch != 2 || page.TotalRooms != 3 {
			t.Errorf("second page: %+v", page)
		}
		var desc roomList
		admin.MustDo("GET", adminV1+"/rooms?order_by=name&dir=b", nil, &desc)
		if desc.Rooms[0].RoomID != cherry {
			t.Errorf("dir=b: %+v", desc)
		}
		var found roomList
		admin.MustDo("GET", adminV1+"/rooms?search_term=ANAN", nil, &found)
		if found.TotalRooms != 1 || found.Rooms[0].RoomID != banana {
			t.Errorf("search_term: %+v", found)
		}
		status, raw := admin.Do("GET", adminV1+"/rooms?order_by=colour", nil, nil)
		expectStatus(t, "bad order_by", status, raw, http.StatusBadRequest, "M_INVALID_PARAM")

		var one map[string]any
		admin.MustDo("GET", adminV1+"/rooms/"+esc(apple), nil, &one)
		if one["room_id"] != apple || one["name"] != "Apple" || one["joined_members"] != float64(1) {
			t.Errorf("room details: %v", one)
		}
		status, raw = admin.Do("GET", adminV1+"/rooms/"+esc("!nope:localhost"), nil, nil)
		expectStatus(t, "unknown room", status, raw, http.StatusNotFound, "M_NOT_FOUND")

		// Joining bob: to a public room straight away, to a private one by
		// the admin's invite first; by alias too.
		var joined map[string]string
		admin.MustDo("POST", adminV1+"/join/"+esc("#apple:localhost"), map[string]any{"user_id": bob.UserID}, &joined)
		if joined["room_id"] != apple {
			t.Errorf("join by alias: %v", joined)
		}
		admin.MustDo("POST", adminV1+"/join/"+esc(banana), map[string]any{"user_id": bob.UserID}, nil)
		var members struct {
			Members []string `json:"members"`
			Total   int      `json:"total"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(banana)+"/members", nil, &members)
		if !slices.Equal(members.Members, []string{admin.UserID, bob.UserID}) || members.Total != 2 {
			t.Errorf("members after the admin's join: %+v", members)
		}
		// The admin is not in bob's private room and cannot invite there.
		status, raw = admin.Do("POST", adminV1+"/join/"+esc(cherry), map[string]any{"user_id": "@carol:localhost"}, nil)
		expectStatus(t, "unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		s.Register("carol")
		status, raw = admin.Do("POST", adminV1+"/join/"+esc(cherry), map[string]any{"user_id": "@carol:localhost"}, nil)
		expectStatus(t, "room the admin is not in", status, raw, http.StatusForbidden, "M_FORBIDDEN")

		var state struct {
			State []struct {
				Type     string `json:"type"`
				StateKey string `json:"state_key"`
				EventID  string `json:"event_id"`
			} `json:"state"`
		}
		admin.MustDo("GET", adminV1+"/rooms/"+esc(banana)+"/state", nil, &state)
		var sawName bool
		for _, e := range state.State {
			sawName = sawName || (e.Type == "m.room.name" && e.EventID != "")
		}
		if !sawName || len(state.State) < 5 {
			t.Errorf("state: %+v", state)
		}

		for _, e := range []struct{ method, path string }{
			{"GET", adminV1 + "/rooms"}, {"GET", adminV1 + "/rooms/" + esc(apple)},
			{"GET", adminV1 + "/rooms/" + esc(apple) + "/members"}, {"GET", adminV1 + "/rooms/" + esc(apple) + "/state"},
			{"POST", adminV1 + "/join/" + esc(apple)},
		} {
			status, raw := bob.Do(e.method, e.path, map[string]any{"user_id": bob.UserID}, nil)
			expectStatus(t, "non-admin "+e.method+" "+e.path, status, raw, http.StatusForbidden, "M_FORBIDDEN")
			status, raw = s.Anonymous().Do(e.method, e.path, map[string]any{}, nil)
			expectStatus(t, "anonymous "+e.method+" "+e.path, status, raw, http.StatusUnauthorized, "M_MISSING_TOKEN")
		}
	})
}
