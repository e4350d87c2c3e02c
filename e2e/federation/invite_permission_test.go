package fede2e

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	pdu "github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// client-server-api "Invite permission" (v1.18) across servers: hs2's bob
// blocks invites, so hs2 answers the federation invite 403
// M_INVITE_BLOCKED, and hs1 passes that on to alice for POST /invite,
// PUT /state/m.room.member and createRoom (whose room is still made).
// Once bob removes default_action, alice's invite reaches him.
func TestFederation_InvitePermissionBlocksRemoteInvites(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	setBlock := func(content map[string]any) {
		bob.must(t, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.userID)+"/account_data/m.invite_permission_config", content, nil)
	}
	blocked := func(what, method, path string, body any) []byte {
		t.Helper()
		x, err := alice.do(context.Background(), method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Errcode string `json:"errcode"`
		}
		if x.Status != 403 || json.Unmarshal(x.RespBody, &e) != nil || e.Errcode != "M_INVITE_BLOCKED" {
			t.Errorf("%s: want 403 M_INVITE_BLOCKED:\n%s", what, x)
		}
		return x.RespBody
	}
	setBlock(map[string]any{"default_action": "block"})
	room := alice.createRoom(t, map[string]any{"preset": "private_chat", "name": "blocked invites"})
	blocked("POST /invite", "POST", roomPath(room)+"/invite", map[string]any{"user_id": bob.userID})
	blocked("PUT /state/m.room.member", "PUT", roomPath(room)+"/state/m.room.member/"+url.PathEscape(bob.userID), map[string]any{"membership": "invite"})
	raw := blocked("createRoom", "POST", "/_matrix/client/v3/createRoom", map[string]any{"invite": []string{bob.userID}})
	var created struct {
		RoomID string `json:"room_id"`
	}
	if json.Unmarshal(raw, &created) != nil || created.RoomID == "" {
		t.Errorf("createRoom's refusal names no room: %s", raw)
	}
	if got := alice.state(t, room).membershipOf(bob.userID); got != "" {
		t.Errorf("hs1's state gives bob membership %q after refused invites", got)
	}

	setBlock(map[string]any{})
	alice.must(t, "PUT", roomPath(room)+"/state/m.room.member/"+url.PathEscape(bob.userID), map[string]any{"membership": "invite"}, nil)
	bob.syncUntil(t, "the invite to "+room, syncBound, func(v *syncView) bool {
		return v.section[room] == "invite"
	})
	checkInviteState(t, bob.view.invite[room], bob.userID, alice.userID, "blocked invites")
}

// The federation invite endpoints themselves (server-server-api "PUT
// /_matrix/federation/v1/invite" and "…/v2/invite": 403 M_INVITE_BLOCKED
// "to indicate that the homeserver rejected the invite due to invite
// blocking"), called by another server: both refuse while the invitee
// blocks invites, and v1, whose body is the bare event of a room version
// 1 or 2 room, countersigns once they do not.
func TestFederation_InviteEndpointsHonourInvitePermission(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1 := c.add("hs1")
	bob := hs1.register(t, "bob")
	mal := newRogue(t, c, "mal", nil)
	bob.must(t, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.userID)+"/account_data/m.invite_permission_config",
		map[string]any{"default_action": "block"}, nil)

	v, _ := roomversion.Get("1")
	roomID := "!legacy:" + mal.name
	invite := func(n string) *pdu.Event {
		b := stateEvent(mal.userID("mallory"), "m.room.member", bob.userID, map[string]any{"membership": "invite"})
		b.RoomID, b.Depth, b.Origin, b.EventID = roomID, 1, mal.name, "$invite"+n+":"+mal.name
		b.OriginServerTS = mal.nextTS()
		return mal.sign(t, v, b, mal.name, mal.key)
	}
	path := func(ver string, ev *pdu.Event) string {
		return "/_matrix/federation/" + ver + "/invite/" + url.PathEscape(roomID) + "/" + url.PathEscape(ev.EventID())
	}
	wantBlocked := func(what string, ver string, ev *pdu.Event, body []byte) {
		t.Helper()
		x := mal.exchange(t, hs1, "PUT", path(ver, ev), body)
		var e struct {
			Errcode string `json:"errcode"`
		}
		if x.Status != 403 || json.Unmarshal(x.RespBody, &e) != nil || e.Errcode != "M_INVITE_BLOCKED" {
			t.Errorf("%s: want 403 M_INVITE_BLOCKED:\n%s", what, x)
		}
	}
	ev1, ev2 := invite("1"), invite("2")
	wantBlocked("v1 invite", "v1", ev1, ev1.FederationJSON())
	wantBlocked("v2 invite", "v2", ev2, mustJSON(map[string]any{"room_version": "1", "event": json.RawMessage(ev2.FederationJSON()), "invite_room_state": []any{}}))

	bob.must(t, "PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.userID)+"/account_data/m.invite_permission_config", map[string]any{}, nil)
	var resp []json.RawMessage
	mal.mustExchange(t, hs1, "PUT", path("v1", ev1), ev1.FederationJSON(), &resp)
	var signed struct {
		Event struct {
			Signatures map[string]json.RawMessage `json:"signatures"`
		} `json:"event"`
	}
	if len(resp) != 2 || string(resp[0]) != "200" || json.Unmarshal(resp[1], &signed) != nil || signed.Event.Signatures[hs1.name] == nil {
		t.Errorf("v1 invite answer = %s, want [200, {event signed by %s}]", resp, hs1.name)
	}
	bob.syncUntil(t, "the v1 invite to "+roomID, syncBound, func(v *syncView) bool {
		return v.section[roomID] == "invite"
	})
}
