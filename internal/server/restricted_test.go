package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// restrictedRoom creates a room whose join rule (restricted or
// knock_restricted) lets in the joined members of allowed.
func restrictedRoom(c *servertest.Client, rule string, extra map[string]any, allowed ...string) string {
	var allow []map[string]any
	for _, r := range allowed {
		allow = append(allow, map[string]any{"type": "m.room_membership", "room_id": r})
	}
	body := map[string]any{"preset": "private_chat", "initial_state": []map[string]any{{
		"type": "m.room.join_rules", "state_key": "",
		"content": map[string]any{"join_rule": rule, "allow": allow}}}}
	for k, v := range extra {
		body[k] = v
	}
	return c.CreateRoom(body)
}

func joinRoom(c *servertest.Client, roomID string) (int, []byte) {
	return c.Do("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil)
}

// client-server-api "Restricted rooms": "When joining without an invite,
// the server MUST verify that the requesting user meets at least one of
// the conditions. If no conditions can be verified or no conditions are
// satisfied, the user will not be able to join." The join names a local
// user who may invite (rooms/v8 auth rules, join_authorised_via_users_server).
func TestRestrictedRoom_MembersOfTheAllowedRoomMayJoin(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, carol := s.Register("alice"), s.Register("carol")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		for _, rule := range []string{"restricted", "knock_restricted"} {
			t.Run(rule, func(t *testing.T) {
				bob := s.Register("bob_" + rule)
				room := restrictedRoom(alice, rule, nil, space)
				if status, raw := joinRoom(bob, room); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
					t.Fatalf("bob, not yet in the allowed room: %d %s", status, raw)
				}
				if status, raw := joinRoom(bob, space); status != http.StatusOK {
					t.Fatalf("joining the allowed room: %d %s", status, raw)
				}
				if status, raw := joinRoom(bob, room); status != http.StatusOK {
					t.Fatalf("bob, in the allowed room: %d %s", status, raw)
				}
				var member map[string]any
				bob.MustDo("GET", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, &member)
				if member["membership"] != "join" || member["join_authorised_via_users_server"] != alice.UserID {
					t.Errorf("bob's member event: %v, want a join authorised via %s", member, alice.UserID)
				}
				// Joining again changes nothing and needs no authoriser.
				if status, raw := joinRoom(bob, room); status != http.StatusOK {
					t.Errorf("joining again: %d %s", status, raw)
				}
				if status, raw := joinRoom(carol, room); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
					t.Errorf("carol, not in the allowed room: %d %s", status, raw)
				}
			})
		}
	})
}

// client-server-api "Restricted rooms": "If the user has an invite to the
// room then the restrictions will not affect them."
func TestRestrictedRoom_InviteBypassesConditions(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, carol := s.Register("alice"), s.Register("carol")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		room := restrictedRoom(alice, "restricted", nil, space)
		alice.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": carol.UserID}, nil)
		if status, raw := joinRoom(carol, room); status != http.StatusOK {
			t.Fatalf("invited carol: %d %s", status, raw)
		}
		var member map[string]any
		carol.MustDo("GET", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(carol.UserID), nil, &member)
		if _, ok := member["join_authorised_via_users_server"]; ok {
			t.Errorf("an invited join names an authoriser: %v", member)
		}
	})
}

// The v8+ auth rules need the authorising user to reach the invite level;
// with nobody on this server able to invite the join is refused.
func TestRestrictedRoom_NoUserMayAuthorise(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		room := restrictedRoom(alice, "restricted", map[string]any{
			// v10: in v12 the creator's power is infinite.
			"room_version": "10", "power_level_content_override": map[string]any{"invite": 101}}, space)
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(space), map[string]any{}, nil)
		if status, raw := joinRoom(bob, room); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("no authoriser: %d %s", status, raw)
		}
	})
}

// client-server-api "Restricted rooms", "Conditions": only
// m.room_membership conditions count; a room whose conditions cannot be
// met (unknown types, unknown rooms, none) lets nobody in uninvited.
func TestRestrictedRoom_UnmeetableConditions(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		for name, allow := range map[string]any{
			"unknown room":   []any{map[string]any{"type": "m.room_membership", "room_id": "!nowhere:localhost"}},
			"unknown type":   []any{map[string]any{"type": "org.example.anything", "room_id": "!nowhere:localhost"}},
			"no conditions":  []any{},
			"no allow field": nil,
		} {
			content := map[string]any{"join_rule": "restricted"}
			if allow != nil {
				content["allow"] = allow
			}
			room := alice.CreateRoom(map[string]any{"preset": "private_chat", "initial_state": []map[string]any{{
				"type": "m.room.join_rules", "state_key": "", "content": content}}})
			if status, raw := joinRoom(bob, room); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
				t.Errorf("%s: %d %s", name, status, raw)
			}
		}
	})
}

// client-server-api "Knocking on rooms": knock_restricted rooms can also
// be knocked on by users who meet no condition.
func TestKnockRestrictedRoom_OutsidersMayKnock(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, carol := s.Register("alice"), s.Register("carol")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		room := restrictedRoom(alice, "knock_restricted", nil, space)
		if status, raw := carol.Do("POST", "/_matrix/client/v3/knock/"+url.PathEscape(room), map[string]any{}, nil); status != http.StatusOK {
			t.Fatalf("knock: %d %s", status, raw)
		}
		var member struct {
			Membership string `json:"membership"`
		}
		raw := alice.MustDo("GET", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(carol.UserID), nil, nil)
		if err := json.Unmarshal(raw, &member); err != nil || member.Membership != "knock" {
			t.Errorf("carol's membership: %s", raw)
		}
	})
}
