package server_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Synapse's admin media API: quarantined media is served to no one until
// lifted; a user's media is listed and quarantined at once; only admins
// may do any of it.
func TestMediaAdmin_QuarantineAndList(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		admin, alice := s.Register("admin"), s.Register("alice")
		makeAdmin(t, s, admin.UserID)
		_, id1 := uploadMedia(t, alice, "text/plain", "one.txt", []byte("one"))
		_, id2 := uploadMedia(t, alice, "text/plain", "two.txt", []byte("two"))

		if st, raw := alice.Do("POST", "/_synapse/admin/v1/media/quarantine/localhost/"+id1, nil, nil); st != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("quarantine by a non-admin: %d %s", st, raw)
		}
		admin.MustDo("POST", "/_synapse/admin/v1/media/quarantine/localhost/"+id1, nil, nil)
		if resp, raw := download(t, alice, authedMedia, "localhost", id1, ""); resp.StatusCode != 404 {
			t.Errorf("quarantined media served: %d %s", resp.StatusCode, raw)
		}
		admin.MustDo("POST", "/_synapse/admin/v1/media/unquarantine/localhost/"+id1, nil, nil)
		if resp, _ := download(t, alice, authedMedia, "localhost", id1, ""); resp.StatusCode != 200 {
			t.Errorf("after unquarantine: %d", resp.StatusCode)
		}
		if st, _ := admin.Do("POST", "/_synapse/admin/v1/media/quarantine/localhost/nosuchmedia", nil, nil); st != 404 {
			t.Errorf("quarantine of unknown media: %d", st)
		}

		var list struct {
			Media []struct {
				MediaID       string  `json:"media_id"`
				UploadName    string  `json:"upload_name"`
				MediaLength   int64   `json:"media_length"`
				QuarantinedBy *string `json:"quarantined_by"`
			} `json:"media"`
			Total     int64 `json:"total"`
			NextToken int64 `json:"next_token"`
		}
		admin.MustDo("GET", "/_synapse/admin/v1/users/"+alice.UserID+"/media?limit=1", nil, &list)
		if list.Total != 2 || len(list.Media) != 1 || list.Media[0].MediaID != id2 || list.NextToken != 1 {
			t.Fatalf("first page: %+v", list)
		}

		var q struct {
			N int64 `json:"num_quarantined"`
		}
		admin.MustDo("POST", "/_synapse/admin/v1/user/"+alice.UserID+"/media/quarantine", nil, &q)
		if q.N != 2 {
			t.Errorf("num_quarantined = %d", q.N)
		}
		if resp, _ := download(t, alice, authedMedia, "localhost", id2, ""); resp.StatusCode != 404 {
			t.Errorf("media of a quarantined user served: %d", resp.StatusCode)
		}
	})
}

// Synapse's admin media API: delete one local item; delete local media
// last accessed before a time, sparing a profile avatar in use; delete all
// of one user's media.
func TestMediaAdmin_Delete(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		admin, alice := s.Register("admin"), s.Register("alice")
		makeAdmin(t, s, admin.UserID)
		_, id := uploadMedia(t, alice, "text/plain", "", []byte("bye"))
		var del struct {
			Deleted []string `json:"deleted_media"`
			Total   int      `json:"total"`
		}
		admin.MustDo("DELETE", "/_synapse/admin/v1/media/localhost/"+id, nil, &del)
		if del.Total != 1 || len(del.Deleted) != 1 || del.Deleted[0] != id {
			t.Errorf("delete: %+v", del)
		}
		if resp, _ := download(t, alice, authedMedia, "localhost", id, ""); resp.StatusCode != 404 {
			t.Errorf("deleted media served: %d", resp.StatusCode)
		}
		if st, _ := admin.Do("DELETE", "/_synapse/admin/v1/media/localhost/"+id, nil, nil); st != 404 {
			t.Errorf("deleting twice: %d", st)
		}

		_, avatar := uploadMedia(t, alice, "image/png", "", []byte("avatar"))
		_, old := uploadMedia(t, alice, "text/plain", "", []byte("old"))
		alice.MustDo("PUT", "/_matrix/client/v3/profile/"+alice.UserID+"/avatar_url",
			map[string]any{"avatar_url": "mxc://localhost/" + avatar}, nil)
		before := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
		if st, raw := admin.Do("POST", "/_synapse/admin/v1/media/delete", nil, nil); st != http.StatusBadRequest {
			t.Errorf("without before_ts: %d %s", st, raw)
		}
		admin.MustDo("POST", "/_synapse/admin/v1/media/delete?before_ts="+before, nil, &del)
		if del.Total != 1 || del.Deleted[0] != old {
			t.Errorf("delete by date: %+v (want only %s; %s is an avatar)", del, old, avatar)
		}
		if resp, _ := download(t, alice, authedMedia, "localhost", avatar, ""); resp.StatusCode != 200 {
			t.Errorf("avatar in use deleted: %d", resp.StatusCode)
		}
		admin.MustDo("POST", "/_synapse/admin/v1/media/delete?keep_profiles=false&before_ts="+before, nil, &del)
		if del.Total != 1 || del.Deleted[0] != avatar {
			t.Errorf("keep_profiles=false: %+v", del)
		}

		_, a1 := uploadMedia(t, alice, "text/plain", "", []byte("a1"))
		_, b1 := uploadMedia(t, admin, "text/plain", "", []byte("b1"))
		admin.MustDo("DELETE", "/_synapse/admin/v1/users/"+alice.UserID+"/media", nil, &del)
		if del.Total != 1 || del.Deleted[0] != a1 {
			t.Errorf("delete a user's media: %+v", del)
		}
		if resp, _ := download(t, admin, authedMedia, "localhost", b1, ""); resp.StatusCode != 200 {
			t.Errorf("another user's media went too: %d", resp.StatusCode)
		}
	})
}
