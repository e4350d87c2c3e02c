package server_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

func upgradePath(roomID string) string { return servertest.Room(roomID) + "/upgrade" }

// stateContent reads one state event's content into out; false if absent.
func stateContent(t *testing.T, c *servertest.Client, roomID, typ, stateKey string, out any) bool {
	t.Helper()
	status, raw := c.Do("GET", servertest.Room(roomID)+"/state/"+typ+"/"+url.PathEscape(stateKey), nil, nil)
	if status != 200 {
		return false
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return true
}

type plContent struct {
	EventsDefault int64            `json:"events_default"`
	Invite        int64            `json:"invite"`
	StateDefault  int64            `json:"state_default"`
	Users         map[string]int64 `json:"users"`
	Events        map[string]int64 `json:"events"`
}

// client-server-api "Room Upgrades", server behaviour: the replacement has
// the new version and a predecessor, the transferable state (power levels
// with the users' levels), the local aliases, the canonical alias and the
// directory listing; the old room gets the tombstone and restricted power
// levels.
func TestUpgrade_ReplacesTheRoomAndMovesWhatTheSpecLists(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		old := alice.CreateRoom(map[string]any{
			"room_version": "10", "preset": "public_chat", "visibility": "public", "room_alias_name": "tea",
			"name": "Tea", "topic": "Leaves", "creation_content": map[string]any{"type": "m.space"},
			"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100, bob.UserID: 50}},
		})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(old), map[string]any{}, nil)
		alice.MustDo("PUT", servertest.Room(old)+"/state/m.room.encryption/", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}, nil)
		alice.MustDo("PUT", servertest.Room(old)+"/state/m.space.child/"+url.PathEscape("!child:localhost"), map[string]any{"via": []string{"localhost"}}, nil)
		alice.MustDo("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape("#tea2:localhost"), map[string]any{"room_id": old}, nil)

		var resp struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		alice.MustDo("POST", upgradePath(old), map[string]any{"new_version": "11"}, &resp)
		nu := resp.ReplacementRoom
		if nu == "" || nu == old {
			t.Fatalf("replacement_room = %q", nu)
		}

		var create struct {
			RoomVersion string `json:"room_version"`
			Type        string `json:"type"`
			Predecessor struct {
				RoomID  string `json:"room_id"`
				EventID string `json:"event_id"`
			} `json:"predecessor"`
		}
		stateContent(t, alice, nu, "m.room.create", "", &create)
		if create.RoomVersion != "11" || create.Type != "m.space" || create.Predecessor.RoomID != old || create.Predecessor.EventID == "" {
			t.Errorf("new create content = %+v", create)
		}
		for _, typ := range []string{"m.room.name", "m.room.topic", "m.room.join_rules", "m.room.history_visibility", "m.room.encryption"} {
			var oldC, newC map[string]any
			stateContent(t, alice, old, typ, "", &oldC)
			if !stateContent(t, alice, nu, typ, "", &newC) {
				t.Errorf("%s not copied", typ)
				continue
			}
			if a, b := mustJSON(t, oldC), mustJSON(t, newC); a != b {
				t.Errorf("%s = %s, want %s", typ, b, a)
			}
		}
		var child map[string]any
		if !stateContent(t, alice, nu, "m.space.child", "!child:localhost", &child) {
			t.Error("the space child was not copied")
		}
		var pl plContent
		stateContent(t, alice, nu, "m.room.power_levels", "", &pl)
		if pl.Users[bob.UserID] != 50 || pl.Users[alice.UserID] != 100 {
			t.Errorf("new power levels users = %v, want bob 50 and alice 100", pl.Users)
		}

		for _, alias := range []string{"#tea:localhost", "#tea2:localhost"} {
			var got struct {
				RoomID string `json:"room_id"`
			}
			alice.MustDo("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape(alias), nil, &got)
			if got.RoomID != nu {
				t.Errorf("%s points at %s, want the new room", alias, got.RoomID)
			}
		}
		var canonical struct {
			Alias string `json:"alias"`
		}
		if stateContent(t, alice, nu, "m.room.canonical_alias", "", &canonical); canonical.Alias != "#tea:localhost" {
			t.Errorf("new canonical alias = %q", canonical.Alias)
		}
		canonical.Alias = ""
		if stateContent(t, alice, old, "m.room.canonical_alias", "", &canonical); canonical.Alias != "" {
			t.Errorf("old room still names %q as its canonical alias", canonical.Alias)
		}
		visibility := func(roomID string) string {
			var v struct{ Visibility string }
			alice.MustDo("GET", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(roomID), nil, &v)
			return v.Visibility
		}
		if visibility(nu) != "public" || visibility(old) != "private" {
			t.Errorf("directory: new %s, old %s; want public and private", visibility(nu), visibility(old))
		}

		var tomb struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		if stateContent(t, alice, old, "m.room.tombstone", "", &tomb); tomb.ReplacementRoom != nu {
			t.Errorf("tombstone replacement_room = %q, want %q", tomb.ReplacementRoom, nu)
		}
		var oldPL plContent
		stateContent(t, alice, old, "m.room.power_levels", "", &oldPL)
		if oldPL.EventsDefault != 50 || oldPL.Invite != 50 {
			t.Errorf("old room events_default %d invite %d, want 50 and 50", oldPL.EventsDefault, oldPL.Invite)
		}
		// The new room is public like the old one: bob follows the tombstone.
		bob.MustDo("POST", servertest.Room(nu)+"/join", map[string]any{}, nil)
		bob.SendText(nu, "still here")
	})
}

// "invite-only rooms invite the members" (issue 14): a member of the old
// room can join the replacement without anyone inviting them by hand.
func TestUpgrade_InviteOnlyRoomInvitesTheMembers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		old := alice.CreateRoom(map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		bob.MustDo("POST", servertest.Room(old)+"/join", map[string]any{}, nil)
		var resp struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		alice.MustDo("POST", upgradePath(old), map[string]any{"new_version": "11"}, &resp)
		var member struct {
			Membership string `json:"membership"`
		}
		if stateContent(t, alice, resp.ReplacementRoom, "m.room.member", bob.UserID, &member); member.Membership != "invite" {
			t.Fatalf("bob's membership in the new room = %q, want invite", member.Membership)
		}
		bob.MustDo("POST", servertest.Room(resp.ReplacementRoom)+"/join", map[string]any{}, nil)
	})
}

// Room version 12: the upgrader and additional_creators are the creators,
// and so are left out of the power levels' users (rooms/v12.md rule 10.4);
// the other users keep their levels. Bans are carried over.
func TestUpgrade_ToV12MakesCreatorsAndKeepsOtherLevels(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol, dan := s.Register("alice"), s.Register("bob"), s.Register("carol"), s.Register("dan")
		old := alice.CreateRoom(map[string]any{"room_version": "11", "preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{alice.UserID: 100, bob.UserID: 100, carol.UserID: 20}}})
		alice.MustDo("POST", servertest.Room(old)+"/ban", map[string]any{"user_id": dan.UserID}, nil)
		var resp struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		alice.MustDo("POST", upgradePath(old), map[string]any{"new_version": "12", "additional_creators": []string{bob.UserID}}, &resp)
		var create struct {
			RoomVersion        string   `json:"room_version"`
			AdditionalCreators []string `json:"additional_creators"`
			Predecessor        struct {
				RoomID string `json:"room_id"`
			} `json:"predecessor"`
		}
		nu := resp.ReplacementRoom
		stateContent(t, alice, nu, "m.room.create", "", &create)
		if create.RoomVersion != "12" || len(create.AdditionalCreators) != 1 || create.AdditionalCreators[0] != bob.UserID || create.Predecessor.RoomID != old {
			t.Errorf("create content = %+v", create)
		}
		var pl plContent
		stateContent(t, alice, nu, "m.room.power_levels", "", &pl)
		if _, ok := pl.Users[alice.UserID]; ok {
			t.Errorf("the upgrader is listed in users: %v", pl.Users)
		}
		if _, ok := pl.Users[bob.UserID]; ok {
			t.Errorf("an additional creator is listed in users: %v", pl.Users)
		}
		if pl.Users[carol.UserID] != 20 {
			t.Errorf("carol's level = %d, want 20", pl.Users[carol.UserID])
		}
		var ban struct {
			Membership string `json:"membership"`
		}
		if stateContent(t, alice, nu, "m.room.member", dan.UserID, &ban); ban.Membership != "ban" {
			t.Errorf("dan's membership in the new room = %q, want ban", ban.Membership)
		}
	})
}

// The spec's errors: an unknown version is 400 M_UNSUPPORTED_ROOM_VERSION,
// a user without the power to send m.room.tombstone 403 M_FORBIDDEN.
func TestUpgrade_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		old := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(old)+"/join", map[string]any{}, nil)
		for _, tc := range []struct {
			name    string
			c       *servertest.Client
			room    string
			body    any
			status  int
			errcode string
		}{
			{"unknown version", alice, old, map[string]any{"new_version": "999"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
			{"no version", alice, old, map[string]any{}, 400, "M_MISSING_PARAM"},
			{"not JSON", alice, old, "nope", 400, "M_NOT_JSON"},
			{"bad additional creator", alice, old, map[string]any{"new_version": "12", "additional_creators": []string{"bob"}}, 400, "M_INVALID_PARAM"},
			{"no power", bob, old, map[string]any{"new_version": "11"}, 403, "M_FORBIDDEN"},
			{"not in the room", eve, old, map[string]any{"new_version": "11"}, 403, "M_FORBIDDEN"},
			{"unknown room", alice, "!nowhere:localhost", map[string]any{"new_version": "11"}, 404, "M_NOT_FOUND"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw := tc.c.Do("POST", upgradePath(tc.room), tc.body, nil)
				if status != tc.status || servertest.Errcode(raw) != tc.errcode {
					t.Fatalf("got %d %s, want %d %s", status, raw, tc.status, tc.errcode)
				}
			})
		}
		var tomb map[string]any
		if stateContent(t, alice, old, "m.room.tombstone", "", &tomb) {
			t.Errorf("a refused upgrade left a tombstone: %v", tomb)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// A moderator allowed to send the tombstone but not to change power
// levels can still upgrade: their level in the new room is raised while
// the old room's state is copied, then set back to what it was (as
// Synapse does), so the upgrade gives no one new power.
func TestUpgrade_ByAModeratorKeepsTheirLevel(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		old := alice.CreateRoom(map[string]any{"room_version": "10", "preset": "public_chat",
			"power_level_content_override": map[string]any{
				"users":  map[string]any{alice.UserID: 100, bob.UserID: 50},
				"events": map[string]any{"m.room.tombstone": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100},
			}})
		bob.MustDo("POST", servertest.Room(old)+"/join", map[string]any{}, nil)
		var resp struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		bob.MustDo("POST", upgradePath(old), map[string]any{"new_version": "11"}, &resp)
		var pl plContent
		stateContent(t, bob, resp.ReplacementRoom, "m.room.power_levels", "", &pl)
		if pl.Users[bob.UserID] != 50 || pl.Users[alice.UserID] != 100 {
			t.Errorf("new room users = %v, want bob 50 and alice 100", pl.Users)
		}
		var hv map[string]any
		if !stateContent(t, bob, resp.ReplacementRoom, "m.room.history_visibility", "", &hv) {
			t.Error("history visibility (level 100) was not copied")
		}
		// bob cannot change the old room's power levels: the tombstone is there, the levels unchanged.
		var oldPL plContent
		stateContent(t, bob, old, "m.room.power_levels", "", &oldPL)
		if oldPL.EventsDefault != 0 {
			t.Errorf("old events_default = %d, want it unchanged (0)", oldPL.EventsDefault)
		}
	})
}

// As Synapse does (the spec leaves it to servers), an upgrade carries each
// local member's own filing of the old room to the new one: its tags, its
// place in m.direct, and their enabled push rules about it.
func TestUpgrade_CarriesMembersTagsDirectAndPushRules(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		old := alice.CreateRoom(map[string]any{"room_version": "10", "preset": "public_chat"})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(old), map[string]any{}, nil)
		bob.MustDo("PUT", tagsPath(bob, old)+"/m.favourite", map[string]any{"order": 0.25}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.direct",
			map[string]any{alice.UserID: []string{"!elsewhere:localhost", old}}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/pushrules/global/room/"+url.PathEscape(old), map[string]any{"actions": []any{}}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/pushrules/global/override/calls",
			map[string]any{"actions": []any{"notify"}, "conditions": []any{map[string]any{"kind": "event_match", "key": "room_id", "pattern": old}}}, nil)

		var resp struct {
			ReplacementRoom string `json:"replacement_room"`
		}
		alice.MustDo("POST", upgradePath(old), map[string]any{"new_version": "11"}, &resp)
		nu := resp.ReplacementRoom

		if tags := getTags(t, bob, nu); tags["m.favourite"]["order"] != 0.25 {
			t.Errorf("bob's tags on the new room = %v", tags)
		}
		var direct map[string][]string
		bob.MustDo("GET", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.direct", nil, &direct)
		if got := direct[alice.UserID]; len(got) != 3 || got[2] != nu {
			t.Errorf("bob's m.direct = %v, want the new room added to alice's list", direct)
		}
		var room struct {
			Actions []any `json:"actions"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/pushrules/global/room/"+url.PathEscape(nu), nil, &room)
		if room.Actions == nil || len(room.Actions) != 0 {
			t.Errorf("bob's room rule for the new room = %+v", room)
		}
		var over struct {
			Conditions []struct {
				Pattern string `json:"pattern"`
			} `json:"conditions"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/pushrules/global/override/"+url.PathEscape(nu), nil, &over)
		if len(over.Conditions) != 1 || over.Conditions[0].Pattern != nu {
			t.Errorf("bob's override rule for the new room = %+v", over)
		}
		// Alice filed nothing: nothing is made for her.
		if tags := getTags(t, alice, nu); len(tags) != 0 {
			t.Errorf("alice's tags on the new room = %v", tags)
		}
	})
}
