package server_test

import (
	"maps"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// publicRoomNames lists a /publicRooms answer as room name → room_type.
func publicRoomNames(t *testing.T, c *servertest.Client, method, path string, body any) (int, map[string]string, []byte) {
	t.Helper()
	var page struct {
		Chunk []struct {
			Name     string `json:"name"`
			RoomType string `json:"room_type"`
		} `json:"chunk"`
		Total int `json:"total_room_count_estimate"`
	}
	status, raw := c.Do(method, path, body, &page)
	got := map[string]string{}
	for _, r := range page.Chunk {
		got[r.Name] = r.RoomType
	}
	if status == 200 && page.Total != len(got) {
		t.Errorf("%s %s: total_room_count_estimate %d for %d rooms", method, path, page.Total, len(got))
	}
	return status, got, raw
}

// application-service-api.md, "Published room directories": an
// appservice publishes rooms in its own list per network with its
// as_token (no one else may), and /publicRooms shows that list to who
// asks for the network by third_party_instance_id (the instance_id of
// GET /thirdparty/protocols) or for every list with include_all_networks;
// by default only the main list.
func TestAppservice_PublishesRoomsPerNetwork(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		alice := s.Register("alice")
		main := alice.CreateRoom(map[string]any{"name": "Main", "preset": "public_chat", "visibility": "public"})
		bridged := alice.CreateRoom(map[string]any{"name": "Bridged", "preset": "public_chat"})
		other := alice.CreateRoom(map[string]any{"name": "Other network", "preset": "public_chat"})
		_ = main
		list := func(network, roomID string) string {
			return "/_matrix/client/v3/directory/list/appservice/" + url.PathEscape(network) + "/" + url.PathEscape(roomID)
		}

		// Only an appservice may; a user gets 403 whatever the room.
		if status, raw := alice.Do("PUT", list("freenode", bridged), map[string]any{"visibility": "public"}, nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("a user publishing in a network's list: %d %s", status, raw)
		}
		for _, bad := range []map[string]any{{}, {"visibility": "hidden"}} {
			if status, raw := as.Do("PUT", list("freenode", bridged), bad, nil); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("visibility %v: %d %s", bad, status, raw)
			}
		}
		if status, raw := as.Do("PUT", list("freenode", "!unknown:localhost"), map[string]any{"visibility": "public"}, nil); status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("an unknown room: %d %s", status, raw)
		}
		as.MustDo("PUT", list("freenode", bridged), map[string]any{"visibility": "public"}, nil)
		as.MustDo("PUT", list("freenode", bridged), map[string]any{"visibility": "public"}, nil) // again: no change
		as.MustDo("PUT", list("oftc", other), map[string]any{"visibility": "public"}, nil)

		const pr = "/_matrix/client/v3/publicRooms"
		for _, tc := range []struct {
			name, method, path string
			body               any
			want               map[string]string
		}{
			{"the main list by default (GET)", "GET", pr, nil, map[string]string{"Main": ""}},
			{"the main list by default (POST)", "POST", pr, map[string]any{}, map[string]string{"Main": ""}},
			{"one network", "POST", pr, map[string]any{"third_party_instance_id": "bridge|freenode"}, map[string]string{"Bridged": ""}},
			{"the other network", "GET", pr + "?third_party_instance_id=bridge%7Coftc", nil, map[string]string{"Other network": ""}},
			{"another appservice's list of the same network", "POST", pr, map[string]any{"third_party_instance_id": "other|freenode"}, map[string]string{}},
			{"every list", "POST", pr, map[string]any{"include_all_networks": true}, map[string]string{"Main": "", "Bridged": "", "Other network": ""}},
			{"every list, searched", "POST", pr, map[string]any{"include_all_networks": true, "filter": map[string]any{"generic_search_term": "network"}}, map[string]string{"Other network": ""}},
		} {
			status, got, raw := publicRoomNames(t, alice, tc.method, tc.path, tc.body)
			if status != 200 || !maps.Equal(got, tc.want) {
				t.Errorf("%s: %d %v, want %v (%s)", tc.name, status, got, tc.want, raw)
			}
		}
		if status, _, raw := publicRoomNames(t, alice, "POST", pr, map[string]any{"include_all_networks": true, "third_party_instance_id": "bridge|freenode"}); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("include_all_networks with an instance ID: %d %s", status, raw)
		}

		// "private" takes the room out of the network's list, and so does
		// Synapse's DELETE; the main list is untouched.
		as.MustDo("PUT", list("freenode", bridged), map[string]any{"visibility": "private"}, nil)
		as.MustDo("DELETE", list("oftc", other), nil, nil)
		if status, got, raw := publicRoomNames(t, alice, "POST", pr, map[string]any{"include_all_networks": true}); status != 200 || !maps.Equal(got, map[string]string{"Main": ""}) {
			t.Errorf("after unpublishing: %d %v (%s)", status, got, raw)
		}
	})
}

// client-server-api "Listing rooms", filter.room_types (spec v1.4,
// MSC3827): the listed room types only, null standing for rooms without
// a type; every entry names its room_type.
func TestPublicRooms_RoomTypesFilter(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		alice.CreateRoom(map[string]any{"name": "Chat", "preset": "public_chat", "visibility": "public"})
		alice.CreateRoom(map[string]any{"name": "Space", "preset": "public_chat", "visibility": "public", "creation_content": map[string]any{"type": "m.space"}})
		alice.CreateRoom(map[string]any{"name": "Custom", "preset": "public_chat", "visibility": "public", "creation_content": map[string]any{"type": "org.example.board"}})
		const pr = "/_matrix/client/v3/publicRooms"
		all := map[string]string{"Chat": "", "Space": "m.space", "Custom": "org.example.board"}
		for _, tc := range []struct {
			name  string
			types any
			want  map[string]string
		}{
			{"no filter", nil, all},
			{"an empty list", []any{}, all},
			{"spaces", []any{"m.space"}, map[string]string{"Space": "m.space"}},
			{"rooms without a type", []any{nil}, map[string]string{"Chat": ""}},
			{"both", []any{nil, "m.space"}, map[string]string{"Chat": "", "Space": "m.space"}},
			{"a custom type", []any{"org.example.board"}, map[string]string{"Custom": "org.example.board"}},
			{"a type no room has", []any{"org.example.none"}, map[string]string{}},
		} {
			filter := map[string]any{}
			if tc.types != nil {
				filter["room_types"] = tc.types
			}
			status, got, raw := publicRoomNames(t, alice, "POST", pr, map[string]any{"filter": filter})
			if status != 200 || !maps.Equal(got, tc.want) {
				t.Errorf("%s: %d %v, want %v (%s)", tc.name, status, got, tc.want, raw)
			}
		}
		if status, _, raw := publicRoomNames(t, alice, "POST", pr, map[string]any{"filter": map[string]any{"room_types": "m.space"}}); status != 400 {
			t.Errorf("room_types not a list: %d %s", status, raw)
		}
	})
}

// application-service-api.md, "Timestamp massaging": an appservice sets
// the origin_server_ts of what it sends with /send and /state through the
// ts query parameter, as its sender or as a puppet; a ts that cannot be an
// origin_server_ts is a bad request; a user's ts is ignored (Synapse).
func TestAppservice_TimestampMassaging(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		registerPuppet(t, as, "_irc_alice")
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{"@_irc_alice:localhost": 50}}})
		as.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?user_id=@_irc_alice:localhost", map[string]any{}, nil)
		const then = 1262304000000 // 2010-01-01
		originTS := func(eventID string) int64 {
			t.Helper()
			var ev struct {
				OriginServerTS int64 `json:"origin_server_ts"`
			}
			alice.MustDo("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(eventID), nil, &ev)
			return ev.OriginServerTS
		}
		send := func(c *servertest.Client, query string) (int, string, []byte) {
			var out struct {
				EventID string `json:"event_id"`
			}
			status, raw := c.Do("PUT", servertest.Room(roomID)+"/send/m.room.message/"+url.PathEscape("t"+query)+query,
				map[string]any{"msgtype": "m.text", "body": "hi"}, &out)
			return status, out.EventID, raw
		}

		if status, id, raw := send(as, "?user_id=@_irc_alice:localhost&ts=1262304000000"); status != 200 || originTS(id) != then {
			t.Errorf("a puppet's message with ts: %d %s, origin_server_ts %d", status, raw, originTS(id))
		}
		var out struct {
			EventID string `json:"event_id"`
		}
		as.MustDo("PUT", servertest.Room(roomID)+"/state/org.example.bridged/?user_id=@_irc_alice:localhost&ts=1262304000001", map[string]any{"a": 1}, &out)
		if got := originTS(out.EventID); got != then+1 {
			t.Errorf("a puppet's state event with ts: origin_server_ts %d", got)
		}
		// A user's ts changes nothing.
		if status, id, raw := send(alice, "?ts=1262304000000"); status != 200 || originTS(id) == then {
			t.Errorf("a user's message with ts: %d %s, origin_server_ts %d", status, raw, originTS(id))
		}
		for _, bad := range []string{"soon", "-1", "0", "1.5", "9007199254740992"} {
			if status, _, raw := send(as, "?user_id=@_irc_alice:localhost&ts="+bad); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("ts=%s on /send: %d %s", bad, status, raw)
			}
			if status, raw := as.Do("PUT", servertest.Room(roomID)+"/state/org.example.bridged/x?user_id=@_irc_alice:localhost&ts="+bad, map[string]any{"a": 2}, nil); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("ts=%s on /state: %d %s", bad, status, raw)
			}
		}
	})
}

// Synapse's admin API shows which appservice registered a user
// (appservice_id in GET /_synapse/admin/v2/users/{userId}), null for
// everyone else. Synapse leaves such users out of no count Myelin keeps:
// only its monthly active users and the phone-home usage statistics
// (total_nonbridged_users), neither of which Myelin has; its user list
// and statistics show them like anyone.
func TestAppservice_AdminShowsTheRegisteringAppservice(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		registerPuppet(t, asClient(s, bridgeASToken), "_irc_alice")
		s.Register("bob")
		admin := newAdmin(t, s, "root")
		for user, want := range map[string]any{"@_irc_alice:localhost": "bridge", "@bob:localhost": nil} {
			var u map[string]any
			admin.MustDo("GET", "/_synapse/admin/v2/users/"+url.PathEscape(user), nil, &u)
			if u["appservice_id"] != want {
				t.Errorf("%s: appservice_id %v, want %v", user, u["appservice_id"], want)
			}
		}
		var list struct {
			Users []struct {
				Name string `json:"name"`
			} `json:"users"`
		}
		admin.MustDo("GET", "/_synapse/admin/v2/users?user_id=_irc_alice", nil, &list)
		if len(list.Users) != 1 || list.Users[0].Name != "@_irc_alice:localhost" {
			t.Errorf("the user list (as in Synapse, with the appservice's users): %+v", list.Users)
		}
	})
}
