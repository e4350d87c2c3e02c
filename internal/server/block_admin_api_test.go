package server_test

import (
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// PUT/GET /_synapse/admin/v1/rooms/{roomId}/block: while a room is
// blocked no local user may join it or be invited, not even through the
// admin API; members already in it stay and may leave; lifting the block
// lets users in again. Rooms the server does not hold can be blocked too.
func TestAdminAPI_BlockRoom(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob, carol := newAdmin(t, s, "admin"), s.Register("bob"), s.Register("carol")
		room := bob.CreateRoom(map[string]any{"preset": "public_chat"})
		carol.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		block := adminV1 + "/rooms/" + esc(room) + "/block"

		var got map[string]any
		admin.MustDo("GET", block, nil, &got)
		if got["block"] != false || len(got) != 1 {
			t.Errorf("before blocking: %v", got)
		}
		admin.MustDo("PUT", block, map[string]any{"block": true}, &got)
		if got["block"] != true {
			t.Errorf("PUT answer: %v", got)
		}
		admin.MustDo("GET", block, nil, &got)
		if got["block"] != true || got["user_id"] != admin.UserID {
			t.Errorf("after blocking: %v", got)
		}

		status, raw := admin.Do("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		expectStatus(t, "join a blocked room", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		status, raw = bob.Do("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": admin.UserID}, nil)
		expectStatus(t, "invite into a blocked room", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		status, raw = admin.Do("POST", adminV1+"/join/"+esc(room), map[string]any{"user_id": admin.UserID}, nil)
		expectStatus(t, "admin join into a blocked room", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		// Members stay: they talk, change their profile and leave.
		bob.SendText(room, "still here")
		bob.MustDo("PUT", "/_matrix/client/v3/profile/"+esc(bob.UserID)+"/displayname", map[string]any{"displayname": "Bobby"}, nil)
		carol.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)

		admin.MustDo("PUT", block, map[string]any{"block": false}, nil)
		admin.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)

		admin.MustDo("PUT", adminV1+"/rooms/"+esc("!elsewhere:example.org")+"/block", map[string]any{"block": true}, nil)
		status, raw = admin.Do("PUT", adminV1+"/rooms/not-a-room/block", map[string]any{"block": true}, nil)
		expectStatus(t, "bad room ID", status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		status, raw = admin.Do("PUT", block, map[string]any{}, nil)
		expectStatus(t, "no block key", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
		for _, m := range []string{"GET", "PUT"} {
			status, raw = bob.Do(m, block, map[string]any{"block": false}, nil)
			expectStatus(t, "non-admin "+m, status, raw, http.StatusForbidden, "M_FORBIDDEN")
			status, raw = s.Anonymous().Do(m, block, map[string]any{"block": false}, nil)
			expectStatus(t, "anonymous "+m, status, raw, http.StatusUnauthorized, "M_MISSING_TOKEN")
		}
	})
}
