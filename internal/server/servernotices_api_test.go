package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// client-server-api "Server Notices" with Synapse's server_notices config
// and send_server_notice admin API: a notice arrives in one room per
// user, run by the system user, tagged m.server_notice, which the user
// cannot leave; PUT with a transaction ID sends a notice once.
func TestAdminAPI_ServerNotices(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := servertest.Start(t, db, servertest.Options{ExtraYAML: "server_notices:\n" +
			"  system_mxid_localpart: notices\n  system_mxid_display_name: Server Notices\n" +
			"  room_name: Notices\n  room_topic: From the admins\n"})
		admin, alice := newAdmin(t, s, "admin"), s.Register("alice")
		path := adminV1 + "/send_server_notice"
		notice := func(body string) map[string]any {
			return map[string]any{"user_id": alice.UserID, "content": map[string]any{"msgtype": "m.text", "body": body}}
		}

		var sent struct {
			EventID string `json:"event_id"`
		}
		admin.MustDo("POST", path, notice("first"), &sent)
		if sent.EventID == "" {
			t.Fatal("no event_id")
		}
		var sync syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &sync)
		if len(sync.Rooms.Invite) != 1 {
			t.Fatalf("alice's invites: %v", sync.Rooms.Invite)
		}
		var room string
		for id := range sync.Rooms.Invite {
			room = id
		}
		var tags struct {
			Tags map[string]json.RawMessage `json:"tags"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/rooms/"+url.PathEscape(room)+"/tags", nil, &tags)
		if _, ok := tags.Tags["m.server_notice"]; !ok {
			t.Errorf("the notices room is not tagged m.server_notice: %v", tags.Tags)
		}

		// The invite cannot be rejected; once joined, the room cannot be
		// left, and the notices are there.
		status, raw := alice.Do("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		expectStatus(t, "rejecting the invite", status, raw, http.StatusForbidden, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
		alice.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		status, raw = alice.Do("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		expectStatus(t, "leaving", status, raw, http.StatusForbidden, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
		var name map[string]string
		alice.MustDo("GET", servertest.Room(room)+"/state/m.room.name/", nil, &name)
		if name["name"] != "Notices" {
			t.Errorf("room name: %v", name)
		}

		// The next notice goes to the same room; a transaction is sent once.
		admin.MustDo("POST", path, notice("second"), nil)
		var first, again struct {
			EventID string `json:"event_id"`
		}
		admin.MustDo("PUT", path+"/t1", notice("third"), &first)
		admin.MustDo("PUT", path+"/t1", notice("third"), &again)
		if first.EventID == "" || first.EventID != again.EventID {
			t.Errorf("a retried transaction: %q then %q", first.EventID, again.EventID)
		}
		if got := messageBodies(t, alice, room); len(got) != 3 || got[0] != "third" || got[2] != "first" {
			t.Errorf("the notices alice sees: %v", got)
		}
		var sync2 syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &sync2)
		if len(sync2.Rooms.Join) != 1 || len(sync2.Rooms.Invite) != 0 {
			t.Errorf("alice has more than one notices room: join %d invite %d", len(sync2.Rooms.Join), len(sync2.Rooms.Invite))
		}
		// Alice cannot write in it.
		status, raw = alice.Do("PUT", sendPath(room, "x"), text, nil)
		expectStatus(t, "alice writing in the notices room", status, raw, http.StatusForbidden, "M_FORBIDDEN")

		for _, c := range []struct {
			what   string
			body   map[string]any
			status int
			code   string
		}{
			{"no user_id", map[string]any{"content": map[string]any{}}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"no content", map[string]any{"user_id": alice.UserID}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"a remote user", map[string]any{"user_id": "@a:elsewhere.example", "content": map[string]any{}}, http.StatusBadRequest, ""},
			{"an unknown user", map[string]any{"user_id": "@nobody:localhost", "content": map[string]any{}}, http.StatusNotFound, "M_NOT_FOUND"},
		} {
			status, raw := admin.Do("POST", path, c.body, nil)
			expectStatus(t, c.what, status, raw, c.status, c.code)
		}
		status, raw = alice.Do("POST", path, notice("x"), nil)
		expectStatus(t, "a non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// Without a server_notices block the API says notices are off.
func TestAdminAPI_ServerNoticesOff(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, alice := newAdmin(t, s, "admin"), s.Register("alice")
		status, raw := admin.Do("POST", adminV1+"/send_server_notice", map[string]any{"user_id": alice.UserID, "content": map[string]any{}}, nil)
		expectStatus(t, "notices off", status, raw, http.StatusBadRequest, "")
	})
}
