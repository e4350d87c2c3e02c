package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// GET/POST/DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit:
// an override is stored and applied at once: its rate and burst replace
// rc_message for that user, 0/0 lifts every limit, deleting it restores
// the configured limits. A rate with a burst of 0 is a limit. GET answers
// {} without an override.
func TestAdminAPI_OverrideRatelimit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startLimited(t, db, "rc_message: {per_second: 0.0001, burst_count: 2}\n"+
			"rc_room_creation: {per_second: 0.0001, burst_count: 1}\n")
		admin, alice := newAdmin(t, s, "admin"), s.Register("alice")
		path := adminV1 + "/users/" + esc(alice.UserID) + "/override_ratelimit"
		room := admin.CreateRoom(map[string]any{"preset": "public_chat"})
		alice.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)

		var got map[string]any
		got = nil
		admin.MustDo("GET", path, nil, &got)
		if len(got) != 0 {
			t.Errorf("without an override: %v", got)
		}

		// A burst of 50 instead of rc_message's 2.
		got = nil
		admin.MustDo("POST", path, map[string]any{"messages_per_second": 1, "burst_count": 50}, &got)
		if got["messages_per_second"] != float64(1) || got["burst_count"] != float64(50) {
			t.Errorf("POST answer: %v", got)
		}
		got = nil
		admin.MustDo("GET", path, nil, &got)
		if got["messages_per_second"] != float64(1) || got["burst_count"] != float64(50) {
			t.Errorf("GET after POST: %v", got)
		}
		for i := range 10 {
			alice.MustDo("PUT", sendPath(room, fmt.Sprintf("o%d", i)), text, nil)
		}

		// 0/0 (Synapse's defaults for absent values): no limit at all, not
		// even rc_room_creation.
		got = nil
		admin.MustDo("POST", path, map[string]any{}, &got)
		if got["messages_per_second"] != float64(0) || got["burst_count"] != float64(0) {
			t.Errorf("POST {}: %v", got)
		}
		for range 3 {
			alice.CreateRoom(map[string]any{})
		}

		// A rate with a burst of 0 is a limit, not an exemption (Synapse
		// lifts limits only for a rate of 0): rc_room_creation applies
		// again, its bucket full (the exempt creations drew on nothing).
		admin.MustDo("POST", path, map[string]any{"messages_per_second": 1, "burst_count": 0}, &got)
		alice.CreateRoom(map[string]any{})
		status, raw := alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{}, nil)
		expectLimited(t, "a second room under an override of 1/0", status, raw)

		// Deleted: rc_message applies again.
		admin.MustDo("DELETE", path, nil, &got)
		got = nil
		admin.MustDo("GET", path, nil, &got)
		if len(got) != 0 {
			t.Errorf("after DELETE: %v", got)
		}
		alice.MustDo("PUT", sendPath(room, "d1"), text, nil)
		alice.MustDo("PUT", sendPath(room, "d2"), text, nil)
		status, raw = alice.Do("PUT", sendPath(room, "d3"), text, nil)
		expectLimited(t, "after the override was deleted", status, raw)

		for _, body := range []map[string]any{{"messages_per_second": -1}, {"burst_count": "10"}, {"messages_per_second": 1.5}} {
			status, raw = admin.Do("POST", path, body, nil)
			expectStatus(t, fmt.Sprint(body), status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		nobody := adminV1 + "/users/" + esc("@nobody:localhost") + "/override_ratelimit"
		remote := adminV1 + "/users/" + esc("@alice:elsewhere.example") + "/override_ratelimit"
		for _, m := range []string{"GET", "POST", "DELETE"} {
			status, raw = admin.Do(m, nobody, map[string]any{}, nil)
			expectStatus(t, m+" unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
			status, raw = admin.Do(m, remote, map[string]any{}, nil)
			expectStatus(t, m+" remote user", status, raw, http.StatusBadRequest, "")
			status, raw = alice.Do(m, path, map[string]any{}, nil)
			expectStatus(t, m+" by a non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		}
	})
}
