package server_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// setInvitePermission writes c's m.invite_permission_config account data.
func setInvitePermission(t *testing.T, c *servertest.Client, content map[string]any) {
	t.Helper()
	c.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(c.UserID)+"/account_data/m.invite_permission_config", content, nil)
}

// wantInviteBlocked checks an answer is 403 M_INVITE_BLOCKED.
func wantInviteBlocked(t *testing.T, what string, status int, raw []byte) {
	t.Helper()
	if status != 403 || servertest.Errcode(raw) != "M_INVITE_BLOCKED" {
		t.Errorf("%s: %d %s, want 403 M_INVITE_BLOCKED", what, status, raw)
	}
}

// client-server-api "Invite permission" (v1.18): a user whose
// m.invite_permission_config has default_action "block" cannot be
// invited through POST /invite, PUT /state/m.room.member or createRoom
// (which still creates the room, without them); the invite never reaches
// the room's state. Removing default_action lets invites through again.
func TestInvitePermission_BlockRefusesInvites(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		setInvitePermission(t, bob, map[string]any{"default_action": "block"})
		room := alice.CreateRoom(map[string]any{"preset": "private_chat"})

		status, raw := alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		wantInviteBlocked(t, "POST /invite", status, raw)
		status, raw = alice.Do("PUT", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(bob.UserID),
			map[string]any{"membership": "invite"}, nil)
		wantInviteBlocked(t, "PUT /state/m.room.member", status, raw)
		if status, _ := alice.Do("GET", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, nil); status != 404 {
			t.Errorf("bob's membership after refused invites: %d, want 404 (none)", status)
		}

		// createRoom: the room is made, carol is invited, bob is not, and
		// the answer says so while naming the room.
		var refused struct {
			RoomID string `json:"room_id"`
		}
		status, raw = alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"invite": []string{bob.UserID, carol.UserID}}, nil)
		wantInviteBlocked(t, "createRoom", status, raw)
		if json.Unmarshal(raw, &refused) != nil || refused.RoomID == "" {
			t.Fatalf("createRoom's refusal names no room: %s", raw)
		}
		var m struct {
			Membership string `json:"membership"`
		}
		alice.MustDo("GET", servertest.Room(refused.RoomID)+"/state/m.room.member/"+url.PathEscape(carol.UserID), nil, &m)
		if m.Membership != "invite" {
			t.Errorf("carol's membership in the created room = %q, want invite", m.Membership)
		}
		if status, _ := alice.Do("GET", servertest.Room(refused.RoomID)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, nil); status != 404 {
			t.Errorf("bob's membership in the created room: %d, want 404 (none)", status)
		}

		// Other values do not block ("A missing, invalid or unsupported
		// value means that the user wants to receive invites as normal").
		setInvitePermission(t, bob, map[string]any{"default_action": "Block"})
		alice.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		// Kicks and bans of a blocking user are not invites.
		setInvitePermission(t, bob, map[string]any{"default_action": "block"})
		alice.MustDo("POST", servertest.Room(room)+"/kick", map[string]any{"user_id": bob.UserID}, nil)
		setInvitePermission(t, bob, map[string]any{})
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(bob.UserID), map[string]any{"membership": "invite"}, nil)
	})
}

// "invite events for this user already in the database … MUST NOT be
// served over client synchronisation endpoints such as GET /sync", while
// GET /state still shows them; unblocking shows them again on an initial
// sync (which the spec allows).
func TestInvitePermission_SyncHidesInvitesWhileBlocked(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		var first syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
		earlier := alice.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		setInvitePermission(t, bob, map[string]any{"default_action": "block"})

		var next, initial syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(first.NextBatch), nil, &next)
		if _, ok := next.Rooms.Invite[earlier]; ok {
			t.Errorf("an incremental sync serves the invite while invites are blocked")
		}
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &initial)
		if _, ok := initial.Rooms.Invite[earlier]; ok {
			t.Errorf("an initial sync serves the invite while invites are blocked")
		}
		var state []json.RawMessage
		alice.MustDo("GET", servertest.Room(earlier)+"/state", nil, &state)
		found := false
		for _, raw := range state {
			var e ev
			_ = json.Unmarshal(raw, &e)
			found = found || (e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID)
		}
		if !found {
			t.Errorf("GET /state lost the invite")
		}

		setInvitePermission(t, bob, map[string]any{})
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &initial)
		if _, ok := initial.Rooms.Invite[earlier]; !ok {
			t.Errorf("after unblocking, an initial sync does not serve the invite")
		}
	})
}
