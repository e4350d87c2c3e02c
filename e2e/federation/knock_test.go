package fede2e

import (
	"net/url"
	"testing"
	"time"
)

// knockSync is the part of /sync a knocker looks at.
type knockSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Knock map[string]struct {
			KnockState struct {
				Events []event `json:"events"`
			} `json:"knock_state"`
		} `json:"knock"`
		Invite map[string]any `json:"invite"`
		Leave  map[string]any `json:"leave"`
	} `json:"rooms"`
}

// syncFor long-polls /sync from since until cond holds, returning the
// answer that satisfied it.
func (c *client) syncFor(t testing.TB, what, since string, cond func(s *knockSync) bool) *knockSync {
	t.Helper()
	deadline := time.Now().Add(syncBound)
	for {
		q := url.Values{"timeout": {"1000"}}
		if since != "" {
			q.Set("since", since)
		}
		var s knockSync
		c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &s)
		if cond(&s) {
			return &s
		}
		since = s.NextBatch
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not seen in /sync within %v", c.userID, what, syncBound)
		}
	}
}

// Knocking on a room held by another server (server-server-api "Knocking
// upon a room"; client-server-api "Knocking on rooms"): the knock goes
// through make_knock and send_knock, shows in the knocker's /sync knock
// section with the stripped state the room's server sent, and the room's
// answer reaches the knocker: an invite (then a join), a rejection (a
// kick, seen as a leave). The knocker can also withdraw a pending knock.
func TestFederation_KnockingOnAnotherServersRoom(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice := hs1.register(t, "alice")
	bob, carol, dave := hs2.register(t, "bob"), hs2.register(t, "carol"), hs2.register(t, "dave")
	roomID := alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "Knock knock", "initial_state": []map[string]any{
		{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "knock"}}}})
	knock := func(c *client) {
		t.Helper()
		var resp struct {
			RoomID string `json:"room_id"`
		}
		c.must(t, "POST", "/_matrix/client/v3/knock/"+url.PathEscape(roomID)+"?via="+url.QueryEscape(hs1.name), map[string]any{"reason": "let me in"}, &resp)
		if resp.RoomID != roomID {
			t.Fatalf("knock answered room_id %q", resp.RoomID)
		}
	}

	// bob knocks: his sync shows the knock with the room's stripped state.
	first := bob.syncFor(t, "an initial sync", "", func(*knockSync) bool { return true })
	knock(bob)
	s := bob.syncFor(t, "the knock", first.NextBatch, func(s *knockSync) bool { _, ok := s.Rooms.Knock[roomID]; return ok })
	types := map[string]string{}
	for _, e := range s.Rooms.Knock[roomID].KnockState.Events {
		types[e.Type] = e.str("name") + e.str("join_rule") + e.str("membership")
	}
	if types["m.room.name"] != "Knock knock" || types["m.room.join_rules"] != "knock" || types["m.room.member"] != "knock" {
		t.Errorf("knock_state = %v, want the room's name, join rules and bob's knock", types)
	}
	waitMembership(t, roomID, map[string]string{bob.userID: "knock"}, alice)

	// alice accepts: the invite reaches bob, who joins.
	alice.must(t, "POST", roomPath(roomID)+"/invite", map[string]any{"user_id": bob.userID}, nil)
	bob.syncFor(t, "the invite", s.NextBatch, func(s *knockSync) bool { _, ok := s.Rooms.Invite[roomID]; return ok })
	bob.join(t, roomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)

	// carol knocks and alice turns her away: carol's sync shows the room left.
	first = carol.syncFor(t, "an initial sync", "", func(*knockSync) bool { return true })
	knock(carol)
	s = carol.syncFor(t, "the knock", first.NextBatch, func(s *knockSync) bool { _, ok := s.Rooms.Knock[roomID]; return ok })
	waitMembership(t, roomID, map[string]string{carol.userID: "knock"}, alice)
	alice.must(t, "POST", roomPath(roomID)+"/kick", map[string]any{"user_id": carol.userID, "reason": "not today"}, nil)
	carol.syncFor(t, "the rejection", s.NextBatch, func(s *knockSync) bool { _, ok := s.Rooms.Leave[roomID]; return ok })

	// dave knocks, then thinks better of it.
	knock(dave)
	waitMembership(t, roomID, map[string]string{dave.userID: "knock"}, alice)
	dave.must(t, "POST", roomPath(roomID)+"/leave", map[string]any{}, nil)
	waitMembership(t, roomID, map[string]string{dave.userID: "leave"}, alice)

	// A knock on a room no server of it can be found for is 404.
	x, err := dave.do(t.Context(), "POST", "/_matrix/client/v3/knock/"+url.PathEscape("!nowhere:"+hs2.name), map[string]any{})
	if err != nil || x.Status != 404 {
		t.Errorf("knocking on an unknown room of our own server: %v %v", x, err)
	}
}
