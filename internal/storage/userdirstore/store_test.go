package userdirstore_test

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
)

// A remote user is listed while joined to a room the directory follows
// and removed with their last membership; a local user stays listed.
func TestApply_RemoteUsersLeaveWithTheirLastRoom(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := userdirstore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		const local, remote, room = "@alice:here", "@bob:there", "!r:here"
		err = s.Apply(ctx, userdirstore.Batch{Rooms: map[string]bool{room: true},
			Members: []userdirstore.Member{{RoomID: room, UserID: local, Joined: true, Local: true}, {RoomID: room, UserID: remote, Joined: true}},
			Users:   []userdirstore.Entry{{UserID: local, DisplayName: "Alice", Local: true}, {UserID: remote, DisplayName: "Bob"}}}, 5)
		if err != nil {
			t.Fatal(err)
		}
		find := func(term string) int {
			t.Helper()
			got, _, err := s.Search(ctx, userdirstore.Query{Searcher: "@x:here", Term: term, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		if find("bob") != 1 || find("alice") != 1 {
			t.Fatalf("in a public room: bob %d, alice %d", find("bob"), find("alice"))
		}
		if has, err := s.HasLocalMember(ctx, room, ""); err != nil || !has {
			t.Errorf("HasLocalMember = %v, %v", has, err)
		}
		if has, err := s.HasLocalMember(ctx, room, local); err != nil || has {
			t.Errorf("HasLocalMember except alice = %v, %v", has, err)
		}
		err = s.Apply(ctx, userdirstore.Batch{Reset: []string{room}}, 7)
		if err != nil {
			t.Fatal(err)
		}
		if find("bob") != 0 || find("alice") != 0 {
			t.Errorf("after the room's members went: bob %d, alice %d", find("bob"), find("alice"))
		}
		all, _, err := s.Search(ctx, userdirstore.Query{Searcher: "@x:here", Term: "a", Limit: 10, All: true})
		if err != nil || len(all) != 1 || all[0].UserID != local {
			t.Errorf("everyone after: %+v %v, want alice only (bob is gone, alice is local)", all, err)
		}
		if pos, err := s.Cursor(ctx); err != nil || pos != 7 {
			t.Errorf("cursor %d %v, want 7", pos, err)
		}
	})
}
