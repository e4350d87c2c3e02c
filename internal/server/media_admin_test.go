package server_test

import (
	"net/http"
	"net/url"
	"slices"
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

// Synapse's "List all media in a room" and "Quarantining media in a
// room": the mxc URIs the room's events name (a message's url and
// thumbnail, an encrypted attachment's file, the room avatar, a member's
// avatar, an edit's new content, a redacted message's url), ours apart
// from other servers'; quarantining them all at once.
func TestMediaAdmin_MediaInARoom(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		admin, alice := s.Register("admin"), s.Register("alice")
		makeAdmin(t, s, admin.UserID)
		ids := map[string]string{}
		for _, n := range []string{"image", "thumb", "file", "avatar", "member", "edit", "redacted", "elsewhere"} {
			_, ids[n] = uploadMedia(t, alice, "image/png", "", []byte(n))
		}
		mxc := func(n string) string { return "mxc://localhost/" + ids[n] }
		const remote = "mxc://remote.example/abcDEF123"
		room := alice.CreateRoom(map[string]any{})
		other := alice.CreateRoom(map[string]any{})
		txn := 0
		send := func(roomID string, content map[string]any) string {
			var resp struct {
				EventID string `json:"event_id"`
			}
			txn++
			alice.MustDo("PUT", servertest.Room(roomID)+"/send/m.room.message/t"+strconv.Itoa(txn), content, &resp)
			return resp.EventID
		}
		send(room, map[string]any{"msgtype": "m.image", "body": "a", "url": mxc("image"),
			"info": map[string]any{"thumbnail_url": mxc("thumb")}})
		send(room, map[string]any{"msgtype": "m.file", "body": "b", "file": map[string]any{"url": mxc("file")}})
		send(room, map[string]any{"msgtype": "m.image", "body": "c", "url": remote})
		send(room, map[string]any{"msgtype": "m.text", "body": "* d", "m.new_content": map[string]any{
			"msgtype": "m.image", "body": "d", "url": mxc("edit")}})
		red := send(room, map[string]any{"msgtype": "m.image", "body": "e", "url": mxc("redacted")})
		alice.MustDo("PUT", servertest.Room(room)+"/redact/"+red+"/r1", map[string]any{}, nil)
		send(room, map[string]any{"msgtype": "m.text", "body": "not a uri: mxc://localhost/../etc"})
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.avatar", map[string]any{"url": mxc("avatar")}, nil)
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.member/"+alice.UserID,
			map[string]any{"membership": "join", "avatar_url": mxc("member")}, nil)
		send(other, map[string]any{"msgtype": "m.image", "body": "f", "url": mxc("elsewhere")})

		path := "/_synapse/admin/v1/room/" + url.PathEscape(room) + "/media"
		var list struct {
			Local  []string `json:"local"`
			Remote []string `json:"remote"`
		}
		admin.MustDo("GET", path, nil, &list)
		want := []string{mxc("image"), mxc("thumb"), mxc("file"), mxc("edit"), mxc("redacted"), mxc("avatar"), mxc("member")}
		slices.Sort(want)
		slices.Sort(list.Local)
		if !slices.Equal(list.Local, want) || !slices.Equal(list.Remote, []string{remote}) {
			t.Errorf("room media:\n got %v %v\nwant %v [%s]", list.Local, list.Remote, want, remote)
		}
		if st, raw := alice.Do("GET", path, nil, nil); st != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("listing by a non-admin: %d %s", st, raw)
		}
		if st, raw := admin.Do("GET", "/_synapse/admin/v1/room/"+url.PathEscape("!nosuch:localhost")+"/media", nil, nil); st != 404 {
			t.Errorf("unknown room: %d %s", st, raw)
		}

		var q struct {
			N int64 `json:"num_quarantined"`
		}
		admin.MustDo("POST", path+"/quarantine", map[string]any{}, &q)
		if q.N != int64(len(want)) {
			t.Errorf("num_quarantined = %d, want %d (the remote item was never cached)", q.N, len(want))
		}
		for _, n := range []string{"image", "member", "redacted"} {
			if resp, _ := download(t, alice, authedMedia, "localhost", ids[n], ""); resp.StatusCode != 404 {
				t.Errorf("%s served after its room was quarantined: %d", n, resp.StatusCode)
			}
		}
		if resp, _ := download(t, alice, authedMedia, "localhost", ids["elsewhere"], ""); resp.StatusCode != 200 {
			t.Errorf("another room's media was quarantined: %d", resp.StatusCode)
		}
		admin.MustDo("POST", "/_synapse/admin/v1/quarantine_media/"+url.PathEscape(room), map[string]any{}, &q)
		if q.N != 0 {
			t.Errorf("quarantining again: num_quarantined = %d", q.N)
		}
	})
}
