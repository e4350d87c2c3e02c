package server_test

import (
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// GET /_synapse/admin/v1/users/{userId}/accountdata: the user's global
// and per-room account data, keyed by type (and room), as Synapse shows
// it; 404 for an unknown local user, 400 for another server's user.
func TestAdminAPI_UserAccountData(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		room := bob.CreateRoom(map[string]any{})
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+esc(bob.UserID)+"/account_data/org.example.global",
			map[string]any{"colour": "blue"}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+esc(bob.UserID)+"/rooms/"+esc(room)+"/account_data/org.example.room",
			map[string]any{"pinned": true}, nil)

		var got struct {
			AccountData struct {
				Global map[string]map[string]any            `json:"global"`
				Rooms  map[string]map[string]map[string]any `json:"rooms"`
			} `json:"account_data"`
		}
		admin.MustDo("GET", adminV1+"/users/"+esc(bob.UserID)+"/accountdata", nil, &got)
		if got.AccountData.Global["org.example.global"]["colour"] != "blue" {
			t.Errorf("global: %v", got.AccountData.Global)
		}
		if got.AccountData.Rooms[room]["org.example.room"]["pinned"] != true {
			t.Errorf("rooms: %v", got.AccountData.Rooms)
		}
		if _, ok := got.AccountData.Global["org.example.room"]; ok {
			t.Error("room account data listed as global")
		}

		// A user without any: empty objects, not null.
		var raw map[string]map[string]map[string]any
		admin.MustDo("GET", adminV1+"/users/"+esc(admin.UserID)+"/accountdata", nil, &raw)
		if g, r := raw["account_data"]["global"], raw["account_data"]["rooms"]; g == nil || r == nil || len(r) != 0 {
			t.Errorf("admin's own: %v", raw)
		}

		status, body := admin.Do("GET", adminV1+"/users/"+esc("@nobody:localhost")+"/accountdata", nil, nil)
		expectStatus(t, "unknown user", status, body, http.StatusNotFound, "M_NOT_FOUND")
		status, body = admin.Do("GET", adminV1+"/users/"+esc("@bob:elsewhere.example")+"/accountdata", nil, nil)
		expectStatus(t, "remote user", status, body, http.StatusBadRequest, "")
		status, body = bob.Do("GET", adminV1+"/users/"+esc(bob.UserID)+"/accountdata", nil, nil)
		expectStatus(t, "non-admin", status, body, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// GET /_synapse/admin/v1/users/{userId}/pushers: the user's pushers with
// Synapse's fields and their total.
func TestAdminAPI_UserPushers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		path := adminV1 + "/users/" + esc(bob.UserID) + "/pushers"
		var got struct {
			Pushers []map[string]any `json:"pushers"`
			Total   int              `json:"total"`
		}
		admin.MustDo("GET", path, nil, &got)
		if got.Total != 0 || got.Pushers == nil || len(got.Pushers) != 0 {
			t.Errorf("before any pusher: %+v", got)
		}

		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", pusherBody("org.example.app", "key1", gatewayURL), nil)
		admin.MustDo("GET", path, nil, &got)
		if got.Total != 1 || len(got.Pushers) != 1 {
			t.Fatalf("after one pusher: %+v", got)
		}
		p := got.Pushers[0]
		data, _ := p["data"].(map[string]any)
		if p["pushkey"] != "key1" || p["app_id"] != "org.example.app" || p["kind"] != "http" ||
			p["app_display_name"] != "App" || p["device_display_name"] != "Phone" || p["lang"] != "en" ||
			data["url"] != gatewayURL {
			t.Errorf("pusher: %v", p)
		}

		status, body := admin.Do("GET", adminV1+"/users/"+esc("@nobody:localhost")+"/pushers", nil, nil)
		expectStatus(t, "unknown user", status, body, http.StatusNotFound, "M_NOT_FOUND")
		status, body = admin.Do("GET", adminV1+"/users/"+esc("@bob:elsewhere.example")+"/pushers", nil, nil)
		expectStatus(t, "remote user", status, body, http.StatusBadRequest, "")
		status, body = bob.Do("GET", path, nil, nil)
		expectStatus(t, "non-admin", status, body, http.StatusForbidden, "M_FORBIDDEN")
		status, body = s.Anonymous().Do("GET", path, nil, nil)
		expectStatus(t, "anonymous", status, body, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}
