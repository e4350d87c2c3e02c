package fede2e

import (
	"encoding/json"
	"testing"
)

// An invite from hs1 to a user on hs2 goes through hs2's
// PUT /_matrix/federation/v2/invite and shows up in the invitee's /sync
// under rooms.invite with the stripped state (client-server-api, "Room
// membership"; server-server-api, "Inviting to a room"). Accepting it joins
// through the inviting server (the room ID alone names no server in room
// version 12). A second invite, rejected with /leave, travels back through
// make_leave/send_leave (server-server-api, "Leaving Rooms (Rejecting
// Invites)") and the inviter sees the rejection.
func TestFederation_InviteAcceptAndReject(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice := hs1.register(t, "alice")
	bob := hs2.register(t, "bob")

	t.Run("accept", func(t *testing.T) {
		roomID := alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "accepted invite"})
		alice.membership(t, roomID, "invite", bob.userID)

		bob.syncUntil(t, "the invite to "+roomID, syncBound, func(v *syncView) bool {
			return v.section[roomID] == "invite"
		})
		checkInviteState(t, bob.view.invite[roomID], bob.userID, alice.userID, "accepted invite")

		// No server_name: hs2 must join through the inviter's server.
		if got := bob.join(t, roomID); got != roomID {
			t.Fatalf("join answered room_id %s, want %s", got, roomID)
		}
		exchangeMessages(t, alice, bob, roomID, "invite")
	})

	t.Run("reject", func(t *testing.T) {
		roomID := alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "rejected invite"})
		alice.membership(t, roomID, "invite", bob.userID)
		bob.syncUntil(t, "the invite to "+roomID, syncBound, func(v *syncView) bool {
			return v.section[roomID] == "invite"
		})

		bob.leave(t, roomID)
		bob.syncUntil(t, roomID+" under rooms.leave after rejecting", syncBound, func(v *syncView) bool {
			return v.section[roomID] == "leave"
		})
		alice.syncUntil(t, bob.userID+"'s rejection of the invite to "+roomID, syncBound, func(v *syncView) bool {
			m, ok := v.memberEvent(roomID, bob.userID)
			return ok && m.str("membership") == "leave" && m.Sender == bob.userID
		})
		if got := alice.state(t, roomID).membershipOf(bob.userID); got != "leave" {
			t.Errorf("hs1's state gives %s membership %q after the rejection, want leave", bob.userID, got)
		}
	})
}

// checkInviteState checks the stripped state sent with an invite
// (client-server-api, "Stripped state"): the invitee's own invite event
// from the inviter, and the room's name.
func checkInviteState(t testing.TB, evs []event, invitee, inviter, name string) {
	t.Helper()
	var gotInvite, gotName bool
	for _, e := range evs {
		switch {
		case e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == invitee:
			gotInvite = e.str("membership") == "invite" && e.Sender == inviter
		case e.Type == "m.room.name":
			gotName = e.str("name") == name
		}
	}
	if !gotInvite {
		t.Errorf("invite_state lacks %s's m.room.member invite from %s: %+v", invitee, inviter, evs)
	}
	if !gotName {
		t.Errorf("invite_state lacks m.room.name %q: %+v", name, evs)
	}
}

// createRoom's invite list reaches users of other servers as POST /invite
// does (client-server-api "POST /createRoom": "A list of user IDs to invite
// to the room"; server-server-api "Inviting to a room"): the invitee's
// server countersigns the invite, the invitee sees it in /sync, with
// is_direct for a direct chat, and can join.
func TestFederation_CreateRoomInvitesRemoteUsers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice := hs1.register(t, "alice")
	bob := hs2.register(t, "bob")
	carol := hs1.register(t, "carol")

	roomID := alice.createRoom(t, map[string]any{"preset": "trusted_private_chat", "name": "created with invites",
		"is_direct": true, "invite": []string{bob.userID, carol.userID}})
	bob.syncUntil(t, "the invite to "+roomID+" from createRoom", syncBound, func(v *syncView) bool {
		return v.section[roomID] == "invite"
	})
	checkInviteState(t, bob.view.invite[roomID], bob.userID, alice.userID, "created with invites")
	for _, e := range bob.view.invite[roomID] {
		var content struct {
			IsDirect bool `json:"is_direct"`
		}
		_ = json.Unmarshal(e.Content, &content)
		if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.userID && !content.IsDirect {
			t.Errorf("the invite of a direct chat lacks is_direct: %+v", e)
		}
	}
	carol.syncUntil(t, "the local invite to "+roomID, syncBound, func(v *syncView) bool {
		return v.section[roomID] == "invite"
	})
	if got := bob.join(t, roomID); got != roomID {
		t.Fatalf("join answered room_id %s, want %s", got, roomID)
	}
	exchangeMessages(t, alice, bob, roomID, "createRoom invite")
}
