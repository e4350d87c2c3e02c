package server_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

func ignoreUsers(t *testing.T, c *servertest.Client, users ...string) {
	t.Helper()
	list := map[string]any{}
	for _, u := range users {
		list[u] = map[string]any{}
	}
	c.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(c.UserID)+"/account_data/m.ignored_user_list",
		map[string]any{"ignored_users": list}, nil)
}

// client-server-api "Ignoring Users": from the next sync on, an ignored
// user's messages are left out of /sync timelines, /messages and /context,
// but their state events are still sent; un-ignoring shows their new
// messages again.
func TestIgnore_HidesMessagesButNotState(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		var first syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
		ignoreUsers(t, bob, alice.UserID)

		alice.SendText(room, "from alice")
		carol.SendText(room, "from carol")
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.topic/", map[string]any{"topic": "still seen"}, nil)
		mid := carol.SendText(room, "carol again")

		var next syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(first.NextBatch), nil, &next)
		evs := decodeEvents(t, next.Rooms.Join[room].Timeline.Events)
		if got := bodies(evs); !slices.Equal(got, []string{"from carol", "carol again"}) {
			t.Errorf("bob's sync timeline bodies = %v", got)
		}
		if !slices.ContainsFunc(evs, func(e ev) bool { return e.Type == "m.room.topic" && e.Sender == alice.UserID }) {
			t.Errorf("alice's state event is missing from bob's timeline: %+v", evs)
		}
		var initial syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &initial)
		if got := bodies(decodeEvents(t, initial.Rooms.Join[room].Timeline.Events)); slices.Contains(got, "from alice") {
			t.Errorf("an initial sync shows alice's message: %v", got)
		}

		var msgs struct {
			Chunk []ev `json:"chunk"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=50", nil, &msgs)
		if got := bodies(msgs.Chunk); !slices.Equal(got, []string{"carol again", "from carol"}) {
			t.Errorf("/messages bodies = %v", got)
		}
		var ctx struct {
			Before []ev `json:"events_before"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/context/"+url.PathEscape(mid)+"?limit=10", nil, &ctx)
		if got := bodies(ctx.Before); slices.Contains(got, "from alice") || !slices.Contains(got, "from carol") {
			t.Errorf("/context events_before bodies = %v", got)
		}

		// Un-ignoring: new messages are seen again.
		ignoreUsers(t, bob)
		alice.SendText(room, "alice back")
		var after syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(next.NextBatch), nil, &after)
		if got := bodies(decodeEvents(t, after.Rooms.Join[room].Timeline.Events)); !slices.Equal(got, []string{"alice back"}) {
			t.Errorf("after un-ignoring: %v", got)
		}
	})
}

// "Servers must not send room invites from ignored users to clients."
func TestIgnore_HidesInvitesFromIgnoredUsers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		ignoreUsers(t, bob, alice.UserID)
		fromAlice := alice.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		fromCarol := carol.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		var sync syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &sync)
		if _, ok := sync.Rooms.Invite[fromAlice]; ok {
			t.Errorf("bob's sync carries alice's invite")
		}
		if _, ok := sync.Rooms.Invite[fromCarol]; !ok {
			t.Errorf("bob's sync lacks carol's invite")
		}
	})
}
