package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// client-server-api "Mutual Rooms" (spec v1.19): the rooms both users are
// joined to, with their count; an invite is not a join; errors are 400
// M_INVALID_PARAM.
func TestMutualRooms_ListsRoomsBothJoined(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		r1 := sharedRoom(t, alice, bob)
		r2 := sharedRoom(t, alice, bob)
		alice.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		alice.CreateRoom(map[string]any{})
		var got struct {
			Joined    []string `json:"joined"`
			Count     int      `json:"count"`
			NextBatch *string  `json:"next_batch"`
		}
		alice.MustDo("GET", "/_matrix/client/v1/mutual_rooms?user_id="+url.QueryEscape(bob.UserID), nil, &got)
		want := []string{r1, r2}
		slices.Sort(want)
		if !slices.Equal(got.Joined, want) || got.Count != 2 || got.NextBatch != nil {
			t.Errorf("mutual rooms = %+v, want %v", got, want)
		}
		for _, q := range []string{"", "user_id=" + url.QueryEscape(alice.UserID), "user_id=bob", "user_id=" + url.QueryEscape(bob.UserID) + "&from=x"} {
			status, raw := alice.Do("GET", "/_matrix/client/v1/mutual_rooms?"+q, nil, nil)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("%q: %d %s", q, status, raw)
			}
		}
	})
}

// client-server-api "Third-party invites": Myelin uses no identity
// server, so an invite by email is refused with M_THREEPID_DENIED (as
// Synapse does with enable_3pid_lookup: false); a partial one is
// M_MISSING_PARAM.
func TestInvite_ThirdPartyInvitesAreDenied(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		status, raw := alice.Do("POST", servertest.Room(room)+"/invite",
			map[string]any{"id_server": "id.example.org", "id_access_token": "x", "medium": "email", "address": "bob@example.org"}, nil)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_THREEPID_DENIED" {
			t.Errorf("3pid invite: %d %s", status, raw)
		}
		status, raw = alice.Do("POST", servertest.Room(room)+"/invite", map[string]any{"medium": "email"}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_MISSING_PARAM" {
			t.Errorf("partial 3pid invite: %d %s", status, raw)
		}
	})
}
