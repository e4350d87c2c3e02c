package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type mediaStats struct {
	Users []struct {
		UserID      string  `json:"user_id"`
		DisplayName *string `json:"displayname"`
		MediaCount  int64   `json:"media_count"`
		MediaLength int64   `json:"media_length"`
	} `json:"users"`
	Total     int  `json:"total"`
	NextToken *int `json:"next_token"`
}

func (m mediaStats) ids() []string {
	var out []string
	for _, u := range m.Users {
		out = append(out, u.UserID)
	}
	return out
}

// GET /_synapse/admin/v1/statistics/users/media: per local uploader, how
// many media and how many bytes, paged and ordered as Synapse does, with
// search_term over user ID and display name and a creation time window;
// bad parameters are 400 M_INVALID_PARAM.
func TestAdminAPI_UsersMediaStatistics(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		admin, alice, bob := newAdmin(t, s, "admin"), s.Register("alice"), s.Register("bob")
		s.Register("carol") // uploads nothing: not listed
		bob.MustDo("PUT", "/_matrix/client/v3/profile/"+esc(bob.UserID)+"/displayname", map[string]any{"displayname": "Zed"}, nil)
		uploadMedia(t, alice, "text/plain", "a.txt", []byte("12345"))
		uploadMedia(t, alice, "text/plain", "b.txt", []byte("123"))
		uploadMedia(t, bob, "text/plain", "c.txt", []byte(strings.Repeat("x", 100)))
		path := adminV1 + "/statistics/users/media"

		var got mediaStats
		admin.MustDo("GET", path, nil, &got)
		if got.Total != 2 || !slices.Equal(got.ids(), []string{alice.UserID, bob.UserID}) || got.NextToken != nil {
			t.Fatalf("default order: %+v", got)
		}
		if a := got.Users[0]; a.MediaCount != 2 || a.MediaLength != 8 || a.DisplayName == nil || *a.DisplayName != "alice" {
			t.Errorf("alice: %+v", a)
		}
		if b := got.Users[1]; b.MediaCount != 1 || b.MediaLength != 100 || b.DisplayName == nil || *b.DisplayName != "Zed" {
			t.Errorf("bob: %+v", b)
		}

		got = mediaStats{}
		admin.MustDo("GET", path+"?order_by=media_length&dir=b&limit=1", nil, &got)
		if !slices.Equal(got.ids(), []string{bob.UserID}) || got.Total != 2 || got.NextToken == nil || *got.NextToken != 1 {
			t.Errorf("largest first, one a page: %+v", got)
		}
		got = mediaStats{}
		admin.MustDo("GET", path+"?order_by=media_count&dir=b&from=1", nil, &got)
		if !slices.Equal(got.ids(), []string{bob.UserID}) || got.NextToken != nil {
			t.Errorf("second page by count: %+v", got)
		}
		got = mediaStats{}
		admin.MustDo("GET", path+"?search_term=zE", nil, &got)
		if !slices.Equal(got.ids(), []string{bob.UserID}) || got.Total != 1 {
			t.Errorf("search by display name: %+v", got)
		}
		got = mediaStats{}
		admin.MustDo("GET", path+"?search_term=alic", nil, &got)
		if !slices.Equal(got.ids(), []string{alice.UserID}) {
			t.Errorf("search by user ID: %+v", got)
		}
		got = mediaStats{}
		admin.MustDo("GET", path+"?from_ts=1&until_ts=2", nil, &got)
		if got.Total != 0 || len(got.Users) != 0 {
			t.Errorf("window before any upload: %+v", got)
		}

		for _, q := range []string{"?from=-1", "?limit=x", "?order_by=size", "?dir=up", "?from_ts=-5",
			"?from_ts=10&until_ts=10", "?search_term="} {
			status, raw := admin.Do("GET", path+q, nil, nil)
			expectStatus(t, q, status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		}
		status, raw := alice.Do("GET", path, nil, nil)
		expectStatus(t, "non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// GET /_synapse/admin/v1/statistics/database/rooms: rooms by estimated
// size, largest first (Myelin estimates on both databases from the
// stored events; Synapse answers on PostgreSQL only).
func TestAdminAPI_DatabaseRoomStatistics(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		small := bob.CreateRoom(map[string]any{})
		big := bob.CreateRoom(map[string]any{})
		for range 5 {
			bob.SendText(big, strings.Repeat("long message ", 50))
		}
		var got struct {
			Rooms []struct {
				RoomID        string `json:"room_id"`
				EstimatedSize int64  `json:"estimated_size"`
			} `json:"rooms"`
		}
		admin.MustDo("GET", adminV1+"/statistics/database/rooms", nil, &got)
		if len(got.Rooms) != 2 || got.Rooms[0].RoomID != big || got.Rooms[1].RoomID != small {
			t.Fatalf("rooms: %+v", got)
		}
		if got.Rooms[1].EstimatedSize <= 0 || got.Rooms[0].EstimatedSize < got.Rooms[1].EstimatedSize+5*600 {
			t.Errorf("sizes: %+v", got)
		}
		status, raw := bob.Do("GET", adminV1+"/statistics/database/rooms", nil, nil)
		expectStatus(t, "non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}
