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
