package fede2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// Leaves, kicks and bans cross servers in both directions and every server
// ends with the same membership state (client-server-api, "Room
// membership"; the auth rules of m.room.member, room version 12).
//
// hs1 holds alice (creator) and dave; hs2 holds bob and carol, whom alice
// gives power 50, enough to kick and ban (alice, as the creator of a room
// version 12 room, outranks every power level). carol stays joined throughout,
// so hs2 stays in the room and can be compared with hs1.
func TestFederation_LeaveKickBanAcrossServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, dave := hs1.register(t, "alice"), hs1.register(t, "dave")
	bob, carol := hs2.register(t, "bob"), hs2.register(t, "carol")

	roomID := alice.createRoom(t, map[string]any{
		"preset": "public_chat", "name": "moderation",
		"power_level_content_override": map[string]any{
			"users": map[string]any{carol.userID: 50},
		},
	})
	carol.join(t, roomID, hs1.name)
	bob.join(t, roomID, hs1.name)
	dave.join(t, roomID)
	waitMembership(t, roomID, map[string]string{bob.userID: "join", carol.userID: "join", dave.userID: "join"}, alice, carol)

	t.Run("remote user leaves", func(t *testing.T) {
		bob.leave(t, roomID)
		waitMembership(t, roomID, map[string]string{bob.userID: "leave"}, alice, carol)
		requireSameState(t, roomID, alice, carol)
	})

	t.Run("local admin kicks remote user", func(t *testing.T) {
		bob.join(t, roomID, hs1.name)
		waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, carol)
		// A since token from before the kick: an initial /sync leaves out
		// left rooms unless the filter asks for them (include_leave).
		bob.syncOnce(t, 0)
		alice.membership(t, roomID, "kick", bob.userID)
		st := waitMembership(t, roomID, map[string]string{bob.userID: "leave"}, alice, carol)
		if s := st[stateKey{"m.room.member", bob.userID}].Sender; s != alice.userID {
			t.Errorf("bob's leave was sent by %s, want the kicker %s", s, alice.userID)
		}
		bob.syncUntil(t, roomID+" under rooms.leave with the kick after the kick", syncBound, func(v *syncView) bool {
			m, ok := v.memberEvent(roomID, bob.userID)
			return v.section[roomID] == "leave" && ok && m.str("membership") == "leave" && m.Sender == alice.userID
		})
		requireSameState(t, roomID, alice, carol)
	})

	t.Run("local admin bans remote user", func(t *testing.T) {
		bob.join(t, roomID, hs1.name)
		waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, carol)
		alice.membership(t, roomID, "ban", bob.userID)
		waitMembership(t, roomID, map[string]string{bob.userID: "ban"}, alice, carol)
		requireSameState(t, roomID, alice, carol)

		// A banned user may not join again, through either server.
		x, err := bob.do(context.Background(), "POST", joinPath(roomID, hs1.name), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden || x.Errcode() != "M_FORBIDDEN" {
			t.Errorf("a banned user's join: want 403 M_FORBIDDEN, got\n%s", x)
		}
		if got := alice.state(t, roomID).membershipOf(bob.userID); got != "ban" {
			t.Errorf("after the refused join hs1 gives bob membership %q, want ban", got)
		}
	})

	t.Run("remote moderator kicks, bans, and the local admin unbans", func(t *testing.T) {
		dave.syncOnce(t, 0)
		carol.membership(t, roomID, "kick", dave.userID)
		st := waitMembership(t, roomID, map[string]string{dave.userID: "leave"}, alice, carol)
		if s := st[stateKey{"m.room.member", dave.userID}].Sender; s != carol.userID {
			t.Errorf("dave's leave was sent by %s, want the kicker %s", s, carol.userID)
		}
		dave.syncUntil(t, roomID+" under rooms.leave with the kick after the remote kick", syncBound, func(v *syncView) bool {
			m, ok := v.memberEvent(roomID, dave.userID)
			return v.section[roomID] == "leave" && ok && m.str("membership") == "leave" && m.Sender == carol.userID
		})
		requireSameState(t, roomID, alice, carol)

		carol.membership(t, roomID, "ban", dave.userID)
		waitMembership(t, roomID, map[string]string{dave.userID: "ban"}, alice, carol)
		alice.membership(t, roomID, "unban", dave.userID)
		waitMembership(t, roomID, map[string]string{dave.userID: "leave"}, alice, carol)
		requireSameState(t, roomID, alice, carol)
	})
}

// waitMembership waits until every client's view of the room's current
// state gives each user the wanted membership, and returns the first
// client's state.
func waitMembership(t testing.TB, roomID string, want map[string]string, clients ...*client) roomState {
	t.Helper()
	var first roomState
	clients[0].s.c.eventually(t, fmt.Sprintf("memberships %v in %s", want, roomID), syncBound, func() string {
		for i, c := range clients {
			st := c.state(t, roomID)
			if i == 0 {
				first = st
			}
			for user, m := range want {
				if got := st.membershipOf(user); got != m {
					return fmt.Sprintf("%s gives %s membership %q, want %q", c.s.label, user, orNone(got), m)
				}
			}
		}
		return ""
	})
	return first
}
