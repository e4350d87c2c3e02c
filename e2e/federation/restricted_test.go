package fede2e

import (
	"context"
	"net/http"
	"testing"
)

// Joins to restricted rooms across servers (client-server-api "Restricted
// rooms"; server-server-api "Restricted rooms" and "Joining Rooms"):
//
//   - room A on hs1 lets in members of room B on hs1. bob@hs2, once in B,
//     joins A through hs1: hs1's make_join names alice@hs1 in
//     join_authorised_via_users_server and its send_join signs the join, so
//     both servers hold bob's join. carol@hs3, not in B, is refused (403).
//   - room A2 on hs1 lets in members of room D, which only hs2 and hs3 are
//     in. hs1 cannot tell whether carol is in D and answers 400
//     M_UNABLE_TO_AUTHORISE_JOIN; with hs2 (where bob may invite) also named,
//     hs3 tries hs2 next, which vouches for carol.
//   - room A3 on hs1, restricted to B3 on hs1, also holds erin@hs2, who
//     may not invite. dave@hs2, in B3, joins A3: hs2 is in the room but has
//     nobody to vouch for him, so it joins through hs1 (as Synapse does) and
//     takes the countersigned join into its own copy of the room.
func TestFederation_RestrictedRoomJoins(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2, hs3 := c.add("hs1"), c.add("hs2"), c.add("hs3")
	alice := hs1.register(t, "alice")
	bob := hs2.register(t, "bob")
	carol := hs3.register(t, "carol")

	restrictedTo := func(allowed string, extra map[string]any) map[string]any {
		body := map[string]any{"preset": "private_chat", "initial_state": []map[string]any{{
			"type": "m.room.join_rules", "state_key": "",
			"content": map[string]any{"join_rule": "restricted",
				"allow": []map[string]any{{"type": "m.room_membership", "room_id": allowed}}}}}}
		for k, v := range extra {
			body[k] = v
		}
		return body
	}

	t.Run("member of the allowed room joins through the resident", func(t *testing.T) {
		space := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "B"})
		room := alice.createRoom(t, restrictedTo(space, map[string]any{"name": "A"}))

		x, err := bob.do(context.Background(), "POST", joinPath(room, hs1.name), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden || x.Errcode() != "M_FORBIDDEN" {
			t.Fatalf("bob, not yet in B, should be refused with 403 M_FORBIDDEN:\n%s", x)
		}

		bob.join(t, space, hs1.name)
		waitMembership(t, space, map[string]string{bob.userID: "join"}, alice, bob)
		bob.join(t, room, hs1.name)
		st := waitMembership(t, room, map[string]string{bob.userID: "join"}, alice, bob)
		if via := st[stateKey{"m.room.member", bob.userID}].str("join_authorised_via_users_server"); via != alice.userID {
			t.Errorf("bob's join is authorised via %q, want %s", via, alice.userID)
		}
		requireSameState(t, room, alice, bob)

		x, err = carol.do(context.Background(), "POST", joinPath(room, hs1.name), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden || x.Errcode() != "M_FORBIDDEN" {
			t.Errorf("carol, not in B, should be refused with 403 M_FORBIDDEN:\n%s", x)
		}
	})

	t.Run("a resident that cannot authorise sends the joiner elsewhere", func(t *testing.T) {
		d := bob.createRoom(t, map[string]any{"preset": "public_chat", "name": "D"})
		carol.join(t, d, hs2.name)
		waitMembership(t, d, map[string]string{carol.userID: "join"}, bob, carol)

		room := alice.createRoom(t, restrictedTo(d, map[string]any{"name": "A2",
			"power_level_content_override": map[string]any{"users": map[string]any{bob.userID: 50}}}))
		alice.membership(t, room, "invite", bob.userID)
		bob.syncUntil(t, "the invite to "+room, syncBound, func(v *syncView) bool { return v.section[room] == "invite" })
		bob.join(t, room, hs1.name)
		waitMembership(t, room, map[string]string{bob.userID: "join"}, alice, bob)

		x, err := carol.do(context.Background(), "POST", joinPath(room, hs1.name), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusBadRequest || x.Errcode() != "M_UNABLE_TO_AUTHORISE_JOIN" {
			t.Fatalf("hs1 is not in D: want 400 M_UNABLE_TO_AUTHORISE_JOIN passed through to the client:\n%s", x)
		}

		carol.join(t, room, hs1.name, hs2.name)
		st := waitMembership(t, room, map[string]string{carol.userID: "join"}, alice, bob, carol)
		if via := st[stateKey{"m.room.member", carol.userID}].str("join_authorised_via_users_server"); via != bob.userID {
			t.Errorf("carol's join is authorised via %q, want %s (the only one who could)", via, bob.userID)
		}
		requireSameState(t, room, alice, bob, carol)
	})

	t.Run("a resident without an authoriser joins through one that has", func(t *testing.T) {
		erin, dave := hs2.register(t, "erin"), hs2.register(t, "dave")
		space := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "B3"})
		room := alice.createRoom(t, restrictedTo(space, map[string]any{"name": "A3"}))
		alice.membership(t, room, "invite", erin.userID)
		erin.syncUntil(t, "the invite to "+room, syncBound, func(v *syncView) bool { return v.section[room] == "invite" })
		erin.join(t, room, hs1.name)
		dave.join(t, space, hs1.name)
		waitMembership(t, room, map[string]string{erin.userID: "join"}, alice, erin)
		waitMembership(t, space, map[string]string{dave.userID: "join"}, alice, dave)

		dave.join(t, room)
		st := waitMembership(t, room, map[string]string{dave.userID: "join"}, alice, erin)
		if via := st[stateKey{"m.room.member", dave.userID}].str("join_authorised_via_users_server"); via != alice.userID {
			t.Errorf("dave's join is authorised via %q, want %s", via, alice.userID)
		}
		requireSameState(t, room, alice, erin, dave)
	})
}
