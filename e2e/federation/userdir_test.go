package fede2e

import (
	"net/url"
	"testing"
)

// client-server-api "User directory": users of other servers seen in a
// shared room are found under the display name of their member event, on
// both sides (the joining server learns the room's members from the join's
// state), and no longer once they left; a user sharing no room finds
// nobody in a private room.
func TestFederation_UserDirectoryListsRemoteRoomMembers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, carol, bob := hs1.register(t, "alice"), hs1.register(t, "carol"), hs2.register(t, "bob")
	bob.must(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(bob.userID)+"/displayname", map[string]any{"displayname": "Bobby Tables"}, nil)
	alice.must(t, "PUT", "/_matrix/client/v3/profile/"+url.PathEscape(alice.userID)+"/displayname", map[string]any{"displayname": "Alice Liddell"}, nil)
	roomID := alice.createRoom(t, map[string]any{"preset": "private_chat", "invite": []string{bob.userID}})
	bob.join(t, roomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)

	type result struct {
		Results []struct {
			UserID      string `json:"user_id"`
			DisplayName string `json:"display_name"`
		} `json:"results"`
	}
	search := func(cl *client, term string) result {
		var r result
		cl.must(t, "POST", "/_matrix/client/v3/user_directory/search", map[string]any{"search_term": term}, &r)
		return r
	}
	if r := search(alice, "bobby"); len(r.Results) != 1 || r.Results[0].UserID != bob.userID || r.Results[0].DisplayName != "Bobby Tables" {
		t.Errorf("alice (hs1) searching bobby = %+v, want bob of hs2 as Bobby Tables", r)
	}
	if r := search(bob, "liddell"); len(r.Results) != 1 || r.Results[0].UserID != alice.userID {
		t.Errorf("bob (hs2) searching liddell = %+v, want alice of hs1", r)
	}
	if r := search(carol, "bobby"); len(r.Results) != 0 {
		t.Errorf("carol, sharing no room with bob, found %+v", r)
	}

	bob.leave(t, roomID)
	waitMembership(t, roomID, map[string]string{bob.userID: "leave"}, alice)
	if r := search(alice, "bobby"); len(r.Results) != 0 {
		t.Errorf("bob left the shared room but alice still finds %+v", r)
	}
}
