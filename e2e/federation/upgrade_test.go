package fede2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An upgrade of an invite-only room with members on two servers
// (client-server-api "Room Upgrades"; issue 14): alice on hs1 upgrades,
// bob on hs2 sees the tombstone, is invited to the replacement through his
// server, joins it through the tombstone's sender's server as the spec
// tells clients to, and the old alias, resolved from hs2, names the new
// room; his tags on the old room are carried to the new one.
func TestFederation_UpgradeWithMembersOnTwoServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	old := alice.createRoom(t, map[string]any{"preset": "private_chat", "room_version": "10", "name": "Upgraded", "room_alias_name": "upgraded"})
	alice.must(t, "POST", roomPath(old)+"/invite", map[string]any{"user_id": bob.userID}, nil)
	bob.syncUntil(t, "bob's invite to the old room", 30*time.Second, func(v *syncView) bool { return v.section[old] == "invite" })
	bob.join(t, old, hs1.name)
	waitMembership(t, old, map[string]string{bob.userID: "join"}, alice, bob)
	bobTags := "/_matrix/client/v3/user/" + url.PathEscape(bob.userID) + "/rooms/"
	bob.must(t, "PUT", bobTags+url.PathEscape(old)+"/tags/m.favourite", map[string]any{"order": 0.5}, nil)

	var resp struct {
		ReplacementRoom string `json:"replacement_room"`
	}
	alice.must(t, "POST", roomPath(old)+"/upgrade", map[string]any{"new_version": "11"}, &resp)
	nu := resp.ReplacementRoom

	// bob's client learns of the tombstone in the old room and finds the
	// new room from it.
	var tombstone event
	bob.syncUntil(t, "the tombstone in bob's sync", 30*time.Second, func(v *syncView) bool {
		for _, e := range v.timeline[old] {
			if e.Type == "m.room.tombstone" {
				tombstone = e
				return true
			}
		}
		return false
	})
	if got := tombstone.str("replacement_room"); got != nu {
		t.Fatalf("tombstone replacement_room = %q, want %q", got, nu)
	}
	bob.syncUntil(t, "bob's invite to the new room", 30*time.Second, func(v *syncView) bool { return v.section[nu] == "invite" })
	via := tombstone.Sender[strings.IndexByte(tombstone.Sender, ':')+1:]
	bob.join(t, nu, via)
	waitMembership(t, nu, map[string]string{bob.userID: "join", alice.userID: "join"}, alice, bob)
	// hs2 learned of the upgrade by joining the new room: as Synapse does,
	// it carried its users' tags on the old room over.
	var tags struct {
		Tags map[string]json.RawMessage `json:"tags"`
	}
	bob.must(t, "GET", bobTags+url.PathEscape(nu)+"/tags", nil, &tags)
	if string(tags.Tags["m.favourite"]) != `{"order":0.5}` {
		t.Errorf("bob's tags on the new room = %s, want m.favourite carried over", tags.Tags)
	}

	st := bob.state(t, nu)
	if st[stateKey{"m.room.name", ""}].str("name") != "Upgraded" {
		t.Errorf("the new room's name as hs2 sees it = %q", st[stateKey{"m.room.name", ""}].str("name"))
	}
	var create struct {
		Predecessor struct {
			RoomID string `json:"room_id"`
		} `json:"predecessor"`
	}
	if err := json.Unmarshal(st[stateKey{"m.room.create", ""}].Content, &create); err != nil || create.Predecessor.RoomID != old {
		t.Errorf("the new room's predecessor = %+v (%v), want %s", create, err, old)
	}
	var alias struct {
		RoomID string `json:"room_id"`
	}
	bob.must(t, "GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#upgraded:"+hs1.name), nil, &alias)
	if alias.RoomID != nu {
		t.Errorf("#upgraded resolved from hs2 = %s, want the new room %s", alias.RoomID, nu)
	}
	bob.sendText(t, nu, "hello in the new room")
	alice.syncUntil(t, "bob's message in the new room", 30*time.Second, func(v *syncView) bool { return v.hasBody(nu, "hello in the new room") })
}
