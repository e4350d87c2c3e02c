package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Tests of issue 17: behaviours of existing endpoints that clients and
// conformance suites expect as the spec writes them.

// The join, knock and leave endpoints declare a request body with no
// required field and do not mark the body itself required (joining.yaml,
// knocking.yaml, leaving.yaml: "requestBody" without "required: true"), so a
// request with no body at all is the same as one with {}.
func TestMembershipEndpointsAcceptNoBody(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", nil, nil)
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", nil, nil)
		bob.MustDo("POST", servertest.Room(roomID)+"/forget", nil, nil)
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), nil, nil)
		// Whitespace only is no body too.
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", " \n", nil)

		knockRoom := alice.CreateRoom(map[string]any{"room_version": "7", "initial_state": []map[string]any{{
			"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"},
		}}})
		carol.MustDo("POST", "/_matrix/client/v3/knock/"+url.PathEscape(knockRoom), nil, nil)

		// Invite, kick, ban and unban require user_id: without a body they
		// are still refused.
		if status, raw := alice.Do("POST", servertest.Room(roomID)+"/invite", nil, nil); status != http.StatusBadRequest {
			t.Errorf("invite without a body: %d %s", status, raw)
		}
	})
}
