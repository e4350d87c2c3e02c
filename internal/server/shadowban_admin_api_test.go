package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// messageBodies returns the bodies of the room's messages as c sees them
// through /messages, newest first.
func messageBodies(t *testing.T, c *servertest.Client, room string) []string {
	t.Helper()
	var msgs struct {
		Chunk []ev `json:"chunk"`
	}
	c.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=50", nil, &msgs)
	return bodies(msgs.Chunk)
}

// POST/DELETE /_synapse/admin/v1/users/{userId}/shadow_ban (Synapse's
// user admin API): a shadow-banned user's requests answer as if they
// worked, but no one else sees their messages, state, redactions, invites
// or typing; lifting the ban restores normal behaviour at once.
func TestAdminAPI_ShadowBan(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		path := adminV1 + "/users/" + esc(bob.UserID) + "/shadow_ban"

		var got map[string]any
		admin.MustDo("POST", path, nil, &got)
		if len(got) != 0 {
			t.Errorf("POST answer: %v", got)
		}
		var user map[string]any
		admin.MustDo("GET", adminV2+"/users/"+esc(bob.UserID), nil, &user)
		if user["shadow_banned"] != true {
			t.Errorf("admin's view of bob: shadow_banned = %v", user["shadow_banned"])
		}

		// Messages, state and redactions answer 200 with a well-formed
		// event ID that names no event.
		fake := bob.SendText(room, "spam")
		if !strings.HasPrefix(fake, "$") || len(fake) < 40 {
			t.Errorf("shadow event ID %q is not well-formed", fake)
		}
		var sent struct {
			EventID string `json:"event_id"`
		}
		bob.MustDo("PUT", servertest.Room(room)+"/state/m.room.topic/", map[string]any{"topic": "spam"}, &sent)
		if sent.EventID == "" {
			t.Error("state event: no event_id")
		}
		mine := alice.SendText(room, "alice's")
		sent.EventID = ""
		bob.MustDo("PUT", servertest.Room(room)+"/redact/"+url.PathEscape(mine)+"/r1", map[string]any{}, &sent)
		if sent.EventID == "" {
			t.Error("redaction: no event_id")
		}
		for _, id := range []string{fake, sent.EventID} {
			status, raw := alice.Do("GET", servertest.Room(room)+"/event/"+url.PathEscape(id), nil, nil)
			expectStatus(t, "another member fetching a shadowed event", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		}

		// Typing is accepted and shown to no one: alice sees only carol.
		first := syncEphemeral(t, alice, "", nil)
		bob.MustDo("PUT", typingPath(room, bob.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		carol.MustDo("PUT", typingPath(room, carol.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		if typing, _ := syncEphemeral(t, alice, first.NextBatch, nil).typingUsers(t, room); !slices.Equal(typing, []string{carol.UserID}) {
			t.Errorf("alice sees %v typing, want only carol", typing)
		}

		// An invite answers {} and invites no one; a room created with
		// invites exists but invites no one either.
		dave := s.Register("dave")
		bobsRoom := bob.CreateRoom(map[string]any{"invite": []string{dave.UserID}})
		bob.MustDo("POST", servertest.Room(bobsRoom)+"/invite", map[string]any{"user_id": dave.UserID}, nil)
		bob.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": dave.UserID}, nil)
		var daveSync syncResp
		dave.MustDo("GET", "/_matrix/client/v3/sync", nil, &daveSync)
		if len(daveSync.Rooms.Invite) != 0 {
			t.Errorf("dave was invited to %v", daveSync.Rooms.Invite)
		}
		// The banned user's own room works for them.
		bob.MustDo("GET", servertest.Room(bobsRoom)+"/state", nil, nil)

		if got := messageBodies(t, alice, room); slices.Contains(got, "spam") || !slices.Contains(got, "alice's") {
			t.Errorf("alice's /messages after the ban: %v", got)
		}
		var topic map[string]any
		if status, _ := alice.Do("GET", servertest.Room(room)+"/state/m.room.topic/", nil, &topic); status == http.StatusOK && topic["topic"] == "spam" {
			t.Error("the shadow-banned user's topic was set")
		}

		// Lifted: bob is seen again.
		got = nil
		admin.MustDo("DELETE", path, nil, &got)
		if len(got) != 0 {
			t.Errorf("DELETE answer: %v", got)
		}
		bob.SendText(room, "hello again")
		if got := messageBodies(t, alice, room); !slices.Contains(got, "hello again") {
			t.Errorf("alice's /messages after the ban was lifted: %v", got)
		}
		bob.MustDo("POST", servertest.Room(bobsRoom)+"/invite", map[string]any{"user_id": dave.UserID}, nil)
		daveSync = syncResp{}
		dave.MustDo("GET", "/_matrix/client/v3/sync", nil, &daveSync)
		if _, ok := daveSync.Rooms.Invite[bobsRoom]; !ok {
			t.Errorf("dave is not invited once the ban was lifted: %v", daveSync.Rooms.Invite)
		}
		user = nil
		admin.MustDo("GET", adminV2+"/users/"+esc(bob.UserID), nil, &user)
		if user["shadow_banned"] != false {
			t.Errorf("admin's view of bob after DELETE: shadow_banned = %v", user["shadow_banned"])
		}

		// Errors as Synapse answers them.
		remote := adminV1 + "/users/" + esc("@bob:elsewhere.example") + "/shadow_ban"
		nobody := adminV1 + "/users/" + esc("@nobody:localhost") + "/shadow_ban"
		for _, m := range []string{"POST", "DELETE"} {
			status, raw := admin.Do(m, remote, nil, nil)
			expectStatus(t, m+" remote user", status, raw, http.StatusBadRequest, "")
			status, raw = admin.Do(m, nobody, nil, nil)
			expectStatus(t, m+" unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
			status, raw = alice.Do(m, path, nil, nil)
			expectStatus(t, m+" by a non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		}
	})
}
