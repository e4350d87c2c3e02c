package roomstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Who shares a room with whom is read from the current joined members:
// what device lists are computed from (end_to_end_encryption.md "Tracking
// the device list for a user").
func TestSharing_CurrentJoinedMembersOnly(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := roomstest.NewEngine(t, db, "hs1")
		st := e.Store()
		before := e.Stream().Current()
		roomstest.PublicRoom(t, e, "@alice:hs1", "@bob:hs1", "@eve:a_b.example")
		roomstest.PublicRoom(t, e, "@carol:hs1", "@dave:axb.example")

		got, err := st.SharingRoom(ctx, "@alice:hs1", []string{"@bob:hs1", "@carol:hs1", "@eve:a_b.example", "@dave:axb.example"})
		if err != nil || fmt.Sprint(got) != "map[@bob:hs1:true @eve:a_b.example:true]" {
			t.Fatalf("SharingRoom: %v, %v", got, err)
		}
		all, err := st.UsersSharingRoom(ctx, "@bob:hs1")
		if err != nil || fmt.Sprint(all) != "map[@alice:hs1:true @bob:hs1:true @eve:a_b.example:true]" {
			t.Fatalf("UsersSharingRoom: %v, %v", all, err)
		}
		// "_" in a server name is a character, not LIKE's wildcard.
		for _, tc := range []struct {
			user, server string
			want         bool
		}{{"@eve:a_b.example", "hs1", true}, {"@alice:hs1", "a_b.example", true}, {"@carol:hs1", "a_b.example", false},
			{"@dave:axb.example", "a_b.example", false}, {"@alice:hs1", "axb.example", false}} {
			if ok, err := st.SharesRoomWithServer(ctx, tc.user, tc.server); err != nil || ok != tc.want {
				t.Errorf("SharesRoomWithServer(%s, %s) = %v, %v", tc.user, tc.server, ok, err)
			}
		}
		changes, more, err := st.MembershipChanges(ctx, before, e.Stream().Current(), 3)
		if err != nil || !more || len(changes) != 3 || changes[0].UserID != "@alice:hs1" || changes[0].Membership != "join" {
			t.Fatalf("MembershipChanges: %+v, %v, %v", changes, more, err)
		}
	})
}
