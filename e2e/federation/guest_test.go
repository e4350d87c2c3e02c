package fede2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// registerGuest registers a guest account (POST /register?kind=guest).
func (s *homeserver) registerGuest(t testing.TB) *client {
	t.Helper()
	x, err := s.do(context.Background(), "", "POST", "/_matrix/client/v3/register?kind=guest", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	return s.registered(t, x, "a guest")
}

// client-server-api "Guest Access": a guest may join only rooms whose
// m.room.guest_access is can_join, and the guest's own server enforces it
// (whether a user is a guest is not shared over federation). For a room
// held only by another server, hs1 asks that server's /hierarchy for the
// room's guest_can_join before joining, and checks the state send_join
// brought after it: a room that is not can_join is refused before any join
// when its summary says so, and left at once when only the state does
// (here a lying via server describes it as can_join).
func TestFederation_GuestJoinsRemoteRoomOnlyWhenCanJoin(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.addWith("hs1", "allow_guest_access: true\n"), c.add("hs2")
	bob := hs2.register(t, "bob")
	open := bob.createRoom(t, map[string]any{"preset": "public_chat", "initial_state": []map[string]any{
		{"type": "m.room.guest_access", "state_key": "", "content": map[string]any{"guest_access": "can_join"}},
	}})
	closed := bob.createRoom(t, map[string]any{"preset": "public_chat"})
	guest := hs1.registerGuest(t)

	refused := func(what, path string) {
		t.Helper()
		x, err := guest.do(context.Background(), "POST", path, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden || x.Errcode() != "M_GUEST_ACCESS_FORBIDDEN" {
			t.Fatalf("%s: want 403 M_GUEST_ACCESS_FORBIDDEN, got\n%s", what, x)
		}
	}
	// Room IDs of room version 12 name no server: the join names hs2
	// (Myelin reads via on /rooms/{roomId}/join too, the one join
	// endpoint guests may use).
	via := "?via=" + url.QueryEscape(hs2.name)
	refused("a guest joins hs2's room without guest access", roomPath(closed)+"/join"+via)
	if m := bob.state(t, closed).membershipOf(guest.userID); m != "" {
		t.Fatalf("hs2 holds the refused guest's membership %q: the join was not stopped before make_join", m)
	}

	guest.must(t, "POST", roomPath(open)+"/join"+via, map[string]any{}, nil)
	guest.sendText(t, open, "hello from a guest of hs1")
	c.eventually(t, "bob sees the guest's message", 30*time.Second, func() string {
		for _, b := range bodies(bob.messages(t, open)) {
			if b == "hello from a guest of hs1" {
				return ""
			}
		}
		return "not yet"
	})

	// A via server that lies about the room: hs1 believes the summary,
	// joins through hs2 (the rogue is not in the room), finds the state
	// is not can_join, and leaves at once.
	liar := newRogue(t, c, "liar", nil)
	liar.handle("GET /_matrix/federation/v1/hierarchy/{roomId}", func(w http.ResponseWriter, req *http.Request) {
		// The rogue routes through its own mux, which sets no path values.
		roomID := strings.TrimPrefix(req.URL.Path, "/_matrix/federation/v1/hierarchy/")
		body, _ := json.Marshal(map[string]any{
			"room": map[string]any{"room_id": roomID, "num_joined_members": 1, "join_rule": "public",
				"guest_can_join": true, "world_readable": false, "children_state": []any{}},
			"children": []any{}, "inaccessible_children": []any{},
		})
		writeJSONBytes(w, http.StatusOK, body)
	})
	refused("a guest joins the room a via server calls can_join", roomPath(closed)+"/join?via="+url.QueryEscape(liar.name)+"&via="+url.QueryEscape(hs2.name))
	c.eventually(t, "hs2 sees the guest leave", 30*time.Second, func() string {
		if m := bob.state(t, closed).membershipOf(guest.userID); m != "leave" {
			return "membership on hs2: " + orNone(m)
		}
		return ""
	})
}
