package server_test

import (
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type roomSummary struct {
	RoomID         string   `json:"room_id"`
	Name           string   `json:"name"`
	Topic          string   `json:"topic"`
	JoinRule       string   `json:"join_rule"`
	RoomType       string   `json:"room_type"`
	RoomVersion    string   `json:"room_version"`
	Encryption     string   `json:"encryption"`
	Membership     string   `json:"membership"`
	AllowedRoomIDs []string `json:"allowed_room_ids"`
	NumJoined      int      `json:"num_joined_members"`
	WorldReadable  bool     `json:"world_readable"`
	GuestCanJoin   bool     `json:"guest_can_join"`
}

func summaryPath(idOrAlias string) string {
	return "/_matrix/client/v1/room_summary/" + url.PathEscape(idOrAlias)
}

// client-server-api GET /room_summary (v1.15): by room ID or alias, with
// the room version, encryption, the user's membership, and, for a
// restricted room, allowed_room_ids.
func TestRoomSummary_ByIDAndAlias(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Space", "creation_content": map[string]any{"type": "m.space"}})
		room := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Tea", "topic": "Leaves", "room_alias_name": "tea",
			"room_version": "11", "initial_state": []map[string]any{{"type": "m.room.encryption", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
		var got roomSummary
		bob.MustDo("GET", summaryPath("#tea:localhost"), nil, &got)
		if got.RoomID != room || got.Name != "Tea" || got.Topic != "Leaves" || got.JoinRule != "public" || got.RoomVersion != "11" ||
			got.Encryption != "m.megolm.v1.aes-sha2" || got.NumJoined != 1 || got.Membership != "" {
			t.Errorf("bob's summary of #tea = %+v", got)
		}
		alice.MustDo("GET", summaryPath(room), nil, &got)
		if got.Membership != "join" {
			t.Errorf("alice's membership = %q, want join", got.Membership)
		}
		alice.MustDo("GET", summaryPath(space), nil, &got)
		if got.RoomType != "m.space" {
			t.Errorf("room_type = %q", got.RoomType)
		}

		restricted := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "R", "initial_state": []map[string]any{
			{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "restricted",
				"allow": []map[string]any{{"type": "m.room_membership", "room_id": space}}}}}})
		bob.MustDo("POST", servertest.Room(space)+"/join", map[string]any{}, nil)
		bob.MustDo("GET", summaryPath(restricted), nil, &got)
		if got.JoinRule != "restricted" || len(got.AllowedRoomIDs) != 1 || got.AllowedRoomIDs[0] != space {
			t.Errorf("restricted summary = %+v", got)
		}
	})
}

// Who may see a summary: the spec lets servers answer unauthenticated
// requests for public, knockable and world_readable rooms; other rooms
// are for those who could see them in a hierarchy. The rest, and unknown
// rooms and aliases, are 404 M_NOT_FOUND.
func TestRoomSummary_Visibility(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		public := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Public"})
		private := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "Private"})
		invited := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "Invited", "invite": []string{bob.UserID}})
		anon := s.Anonymous()

		var got roomSummary
		anon.MustDo("GET", summaryPath(public), nil, &got)
		if got.Name != "Public" || got.Membership != "" {
			t.Errorf("anonymous summary = %+v", got)
		}
		bob.MustDo("GET", summaryPath(invited), nil, &got)
		if got.Membership != "invite" {
			t.Errorf("bob's membership in Invited = %q", got.Membership)
		}
		for _, tc := range []struct {
			name string
			c    *servertest.Client
			room string
		}{
			{"private room", bob, private},
			{"private room, anonymously", anon, private},
			{"invited room, anonymously", anon, invited},
			{"unknown room", bob, "!nowhere:localhost"},
			{"unknown alias", bob, "#nowhere:localhost"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw := tc.c.Do("GET", summaryPath(tc.room), nil, nil)
				if status != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
					t.Fatalf("got %d %s, want 404 M_NOT_FOUND", status, raw)
				}
			})
		}
		if status, raw := bob.Do("GET", summaryPath("tea"), nil, nil); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("neither an ID nor an alias: %d %s", status, raw)
		}
	})
}
