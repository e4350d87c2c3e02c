package fede2e

import (
	"testing"
)

// bob on hs2 browses hs1's public room directory through his own server
// (client-server-api POST /publicRooms with "server"; hs2 asks hs1 over
// federation), finds alice's room by a search term, and joins it from the
// entry.
func TestFederation_BrowseAnotherServersDirectory(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Federated gardening", "topic": "soil"})
	alice.createRoom(t, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Something else"})
	alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "Not listed"})

	type page struct {
		Chunk []struct {
			RoomID           string `json:"room_id"`
			Name             string `json:"name"`
			Topic            string `json:"topic"`
			NumJoinedMembers int    `json:"num_joined_members"`
		} `json:"chunk"`
		Total int `json:"total_room_count_estimate"`
	}
	var all page
	bob.must(t, "POST", "/_matrix/client/v3/publicRooms", map[string]any{"server": hs1.name}, &all)
	if len(all.Chunk) != 2 || all.Total != 2 {
		t.Fatalf("hs1's directory seen from hs2 = %+v, want the 2 published rooms", all)
	}
	var found page
	bob.must(t, "POST", "/_matrix/client/v3/publicRooms",
		map[string]any{"server": hs1.name, "filter": map[string]any{"generic_search_term": "GARDEN"}}, &found)
	if len(found.Chunk) != 1 || found.Chunk[0].RoomID != roomID || found.Chunk[0].Topic != "soil" || found.Chunk[0].NumJoinedMembers != 1 {
		t.Fatalf("searching hs1's directory for GARDEN = %+v, want alice's room with its topic and 1 member", found)
	}
	bob.join(t, found.Chunk[0].RoomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)

	// hs2's own directory is not hs1's.
	var own page
	bob.must(t, "POST", "/_matrix/client/v3/publicRooms", map[string]any{}, &own)
	if len(own.Chunk) != 0 {
		t.Errorf("hs2's own directory lists %+v, want nothing", own.Chunk)
	}
}
