package fede2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// A space on hs1 whose children live only on hs2 (client-server-api GET
// /hierarchy; server-server-api "Spaces"): hs1 asks hs2, through the via
// lists, for the rooms it is not in, descends into hs2's sub-space, and
// leaves out the room hs2 says hs1 may not see.
func TestFederation_HierarchySpanningTwoServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	space := map[string]any{"type": "m.space"}
	root := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "Root", "creation_content": space})
	sub := bob.createRoom(t, map[string]any{"preset": "public_chat", "name": "Sub", "creation_content": space})
	leaf := bob.createRoom(t, map[string]any{"preset": "public_chat", "name": "Leaf", "topic": "on hs2", "room_alias_name": "leaf"})
	remote := bob.createRoom(t, map[string]any{"preset": "public_chat", "name": "Remote"})
	hidden := bob.createRoom(t, map[string]any{"preset": "private_chat", "name": "Hidden"})
	child := func(c *client, parent, child, order string) {
		c.must(t, "PUT", roomPath(parent)+"/state/m.space.child/"+url.PathEscape(child), map[string]any{"via": []string{hs2.name}, "order": order}, nil)
	}
	child(alice, root, sub, "a")
	child(alice, root, remote, "b")
	child(bob, sub, hidden, "a")
	child(bob, sub, leaf, "b")

	var page struct {
		Rooms []struct {
			RoomID        string `json:"room_id"`
			Name          string `json:"name"`
			Topic         string `json:"topic"`
			ChildrenState []struct {
				StateKey string `json:"state_key"`
			} `json:"children_state"`
		} `json:"rooms"`
	}
	alice.must(t, "GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy", nil, &page)
	var names []string
	for _, r := range page.Rooms {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "Root,Sub,Leaf,Remote" {
		t.Fatalf("alice's hierarchy = %s, want Root,Sub,Leaf,Remote (Hidden is invite-only on hs2)", got)
	}
	if s := page.Rooms[1]; s.RoomID != sub || len(s.ChildrenState) != 2 {
		t.Errorf("hs2's sub-space as hs1 shows it: %+v", s)
	}
	if page.Rooms[2].Topic != "on hs2" {
		t.Errorf("the leaf's topic = %q", page.Rooms[2].Topic)
	}

	// The room summary (client-server-api GET /room_summary, v1.15) of a
	// room hs1 is not in comes from the via servers' /hierarchy; by alias,
	// from the alias's server.
	var sum struct {
		RoomID   string `json:"room_id"`
		Name     string `json:"name"`
		JoinRule string `json:"join_rule"`
	}
	alice.must(t, "GET", "/_matrix/client/v1/room_summary/"+url.PathEscape(leaf)+"?via="+url.QueryEscape(hs2.name), nil, &sum)
	if sum.RoomID != leaf || sum.Name != "Leaf" || sum.JoinRule != "public" {
		t.Errorf("summary of the leaf through hs2 = %+v", sum)
	}
	sum.Name = ""
	alice.must(t, "GET", "/_matrix/client/v1/room_summary/"+url.PathEscape("#leaf:"+hs2.name), nil, &sum)
	if sum.RoomID != leaf || sum.Name != "Leaf" {
		t.Errorf("summary of #leaf = %+v", sum)
	}
	x, err := alice.do(context.Background(), "GET", "/_matrix/client/v1/room_summary/"+url.PathEscape(hidden)+"?via="+url.QueryEscape(hs2.name), nil)
	if err != nil || x.Status != 404 {
		t.Errorf("summary of an invite-only room on hs2: %v %v, want 404", x, err)
	}

	// hs2's answers are cached by hs1 for a while (as Synapse caches
	// other servers' /hierarchy answers for 5 minutes): with hs2 gone, the
	// hierarchy still shows its rooms.
	hs2.stop()
	page.Rooms = nil
	alice.must(t, "GET", "/_matrix/client/v1/rooms/"+url.PathEscape(root)+"/hierarchy", nil, &page)
	names = nil
	for _, r := range page.Rooms {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "Root,Sub,Leaf,Remote" {
		t.Errorf("alice's hierarchy with hs2 stopped = %s, want hs2's rooms from hs1's cache", got)
	}
}
