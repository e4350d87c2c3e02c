package server_test

import (
	"net/http"
	"net/url"
	"strings"
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

// The join body is an open object (joining.yaml declares its properties
// without forbidding others), and the member event's content is what the
// server builds from it: "membership" is always the server's, the profile
// is the user's unless the client gives its own for this room, and any
// other key the client adds is kept, as Synapse does.
func TestJoinBodyExtraKeysReachTheMemberEvent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		bob.MustDo("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(bob.UserID)+"/displayname", map[string]any{"displayname": "Bob"}, nil)
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{
			"reason": "hi", "foo": "bar", "nested": map[string]any{"n": 1}, "membership": "leave",
		}, nil)
		var content map[string]any
		alice.MustDo("GET", servertest.Room(roomID)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, &content)
		if content["foo"] != "bar" || content["reason"] != "hi" || content["membership"] != "join" || content["displayname"] != "Bob" {
			t.Errorf("member content = %v", content)
		}
		if n, _ := content["nested"].(map[string]any); n["n"] != float64(1) {
			t.Errorf("nested = %v", content["nested"])
		}
		// Through /join/{roomIdOrAlias}, a per-room display name wins.
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{"displayname": "Bobby"}, nil)
		alice.MustDo("GET", servertest.Room(roomID)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, &content)
		if content["displayname"] != "Bobby" || content["membership"] != "join" {
			t.Errorf("member content after rejoin = %v", content)
		}
	})
}

// GET /rooms/{roomId}/joined_members (rooms.yaml): "The current user must be
// in the room for it to work", and each RoomMember object has display_name
// and avatar_url, sent as null when the member has none (Synapse's shape).
func TestJoinedMembersCarriesProfileKeysAndNeedsMembership(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		alice.MustDo("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(alice.UserID)+"/displayname", map[string]any{"displayname": "Alice"}, nil)
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		var got struct {
			Joined map[string]map[string]any `json:"joined"`
		}
		bob.MustDo("GET", servertest.Room(roomID)+"/joined_members", nil, &got)
		for _, u := range []string{alice.UserID, bob.UserID} {
			m, ok := got.Joined[u]
			if !ok {
				t.Fatalf("%s missing from %v", u, got.Joined)
			}
			for _, k := range []string{"display_name", "avatar_url"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s has no %q key: %v", u, k, m)
				}
			}
		}
		if got.Joined[alice.UserID]["display_name"] != "Alice" || got.Joined[bob.UserID]["avatar_url"] != nil {
			t.Errorf("joined = %v", got.Joined)
		}
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", map[string]any{}, nil)
		if status, raw := bob.Do("GET", servertest.Room(roomID)+"/joined_members", nil, nil); status != http.StatusForbidden {
			t.Errorf("after leaving: %d %s", status, raw)
		}
	})
}

// GET /rooms/{roomId}/event/{eventId} (rooms.yaml) answers 404 when "The
// event was not found or you do not have permission to read this event":
// one answer for both, so that an outsider cannot tell which exist.
func TestEventTheCallerMayNotSeeIsNotFound(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, eve := s.Register("alice"), s.Register("eve")
		roomID := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		secret := alice.SendText(roomID, "secret")
		for _, id := range []string{secret, "$doesnotexist"} {
			status, raw := eve.Do("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(id), nil, nil)
			if status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("outsider reading %s: %d %s", id, status, raw)
			}
		}
	})
}

// Filter lists of IDs hold IDs (definitions/sync_filter.yaml: senders and
// not_senders are "A list of sender IDs", rooms and not_rooms "A list of
// room IDs", with formats mx-user-id and mx-room-id): a filter holding
// anything else is refused when uploaded, instead of silently matching
// nothing.
func TestFilterWithInvalidIDsIsRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		path := "/_matrix/client/v3/user/" + url.PathEscape(alice.UserID) + "/filter"
		for _, f := range []string{
			`{"room":{"timeline":{"senders":["alice"]}}}`,
			`{"room":{"state":{"not_senders":["not a user"]}}}`,
			`{"presence":{"senders":["!room:localhost"]}}`,
			`{"room":{"rooms":["#alias:localhost"]}}`,
			`{"room":{"not_rooms":["room"]}}`,
			`{"room":{"timeline":{"rooms":["@alice:localhost"]}}}`,
			`{"room":{"ephemeral":{"not_rooms":[""]}}}`,
		} {
			if status, raw := alice.Do("POST", path, f, nil); status != http.StatusBadRequest {
				t.Errorf("filter %s: %d %s", f, status, raw)
			}
		}
		alice.MustDo("POST", path, `{"room":{"rooms":["!a:localhost"],"timeline":{"senders":["@bob:localhost"],"not_rooms":["!b:localhost"]}}}`, nil)
	})
}

// PUT /profile/{userId}/avatar_url accepts what Synapse accepts: any
// string of at most 1000 bytes (profile.yaml names the field's meaning, an
// mxc:// URI, but no error for other values), so clients that set other URLs
// are not refused.
func TestAvatarURLAcceptsWhatSynapseAccepts(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		path := "/_matrix/client/v3/profile/" + url.PathEscape(alice.UserID) + "/avatar_url"
		for _, v := range []string{"mxc://localhost/abc", "https://example.org/a.png", "not a uri", ""} {
			alice.MustDo("PUT", path, map[string]any{"avatar_url": v}, nil)
		}
		if status, raw := alice.Do("PUT", path, map[string]any{"avatar_url": "mxc://a/" + strings.Repeat("b", 1000)}, nil); status != http.StatusBadRequest {
			t.Errorf("1008-byte avatar_url: %d %s", status, raw)
		}
	})
}

// GET /rooms/{roomId}/members?at= (rooms.yaml): "The point in time
// (pagination token) to return members for in the room." At the room's
// earliest tokens (an initial sync's prev_batch when the whole history
// fits, and /messages paged forward from the start) the membership is the
// room's first: its creator joined, and no one else.
func TestMembersAtTheEarliestTokenHoldTheCreatorsJoin(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		var sync syncResp
		alice.MustDo("GET", `/_matrix/client/v3/sync?filter={"room":{"timeline":{"limit":100}}}`, nil, &sync)
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		alice.SendText(roomID, "hello")

		var fwd struct {
			Start string `json:"start"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=f&limit=1", nil, &fwd)
		for _, tok := range []string{sync.Rooms.Join[roomID].Timeline.PrevBatch, fwd.Start} {
			var members struct {
				Chunk []ev `json:"chunk"`
			}
			alice.MustDo("GET", servertest.Room(roomID)+"/members?at="+url.QueryEscape(tok), nil, &members)
			if len(members.Chunk) != 1 || *members.Chunk[0].StateKey != alice.UserID || !strings.Contains(string(members.Chunk[0].Content), `"join"`) {
				t.Errorf("members at %s = %+v", tok, members.Chunk)
			}
		}
	})
}
