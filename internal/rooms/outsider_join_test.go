package rooms

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// An invite received while this server was outside the room (PUT /invite)
// is kept with a stream position so /sync shows it, but it has no room
// state. Once the server joins through send_join, the join starts the
// room's timeline here, with the room's state before it: the invite left in
// the timeline would make a newly joined room's /sync carry the (empty)
// state before the invite, and a client would never learn that the room
// is, say, encrypted.
func TestRemoteJoinStartsTimelineAfterOutsiderInvite(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, secondDB(t, db), "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		v := roomversion.MustGet("12")
		roomID, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "private_chat", Version: v})
		if err != nil {
			t.Fatal(err)
		}
		invite, err := hs1.e.BuildEvent(ctx, roomID, member("@alice:hs1", "@bob:hs2", "invite"))
		if err != nil {
			t.Fatal(err)
		}
		signed, err := hs2.e.StoreInvite(ctx, v, invite, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range deliver(t, hs1, hs2, roomID, signed) {
			if r.Err != nil {
				t.Fatalf("hs1 refused its countersigned invite: %v", r.Err)
			}
		}
		before, err := hs2.e.Store().RoomEvents(ctx, roomID, 0, hs2.e.Stream().Current(), 10, true)
		if err != nil || len(before) != 1 || before[0].EventID() != signed.EventID() {
			t.Fatalf("before the join hs2's timeline = %v (%v), want the invite alone", before, err)
		}

		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		evs, err := hs2.e.Store().RoomEvents(ctx, roomID, 0, hs2.e.Stream().Current(), 10, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Type() != event.TypeMember || evs[0].Membership() != event.Join {
			t.Fatalf("after the join hs2's timeline = %v, want bob's join alone", evs)
		}
		st, err := hs2.e.StateBefore(ctx, evs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, tup := range []event.StateTuple{{Type: event.TypeCreate}, {Type: event.TypeMember, StateKey: "@alice:hs1"}, {Type: event.TypeMember, StateKey: "@bob:hs2"}} {
			if st.IDs[tup] == "" {
				t.Errorf("the state before bob's join lacks %v: %v", tup, st.IDs)
			}
		}
		if id := st.IDs[event.StateTuple{Type: event.TypeMember, StateKey: "@bob:hs2"}]; id != signed.EventID() {
			t.Errorf("bob's membership before the join is %s, want the invite %s", id, signed.EventID())
		}
		// The invite itself is still known (the state refers to it).
		if se, err := hs2.e.Store().Event(ctx, signed.EventID()); err != nil || !se.Outlier {
			t.Errorf("the invite after the join: %+v, %v; want it kept as an outlier", se, err)
		}
	})
}
