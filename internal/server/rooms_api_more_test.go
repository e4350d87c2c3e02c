package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Every room version works end to end through the client API: create,
// invite, join, talk, read back.
func TestEveryRoomVersionThroughTheAPI(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		for v := 1; v <= 12; v++ {
			ver := strconv.Itoa(v)
			roomID := alice.CreateRoom(map[string]any{"room_version": ver, "invite": []string{bob.UserID}})
			bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
			bob.SendText(roomID, "v"+ver)
			var msgs struct {
				Chunk []ev `json:"chunk"`
			}
			alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=1", nil, &msgs)
			if got := bodies(msgs.Chunk); len(got) != 1 || got[0] != "v"+ver {
				t.Errorf("room v%s: last message = %v", ver, got)
			}
			var create struct {
				RoomVersion string `json:"room_version"`
			}
			alice.MustDo("GET", servertest.Room(roomID)+"/state/m.room.create/", nil, &create)
			if create.RoomVersion != ver {
				t.Errorf("room v%s: create says %q", ver, create.RoomVersion)
			}
		}
	})
}

func TestRedactionHidesContentAndNeedsPower(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		aliceMsg := alice.SendText(roomID, "alice's words")
		bobMsg := bob.SendText(roomID, "regrettable")

		status, raw := bob.Do("PUT", servertest.Room(roomID)+"/redact/"+url.PathEscape(aliceMsg)+"/r1", map[string]any{}, nil)
		if status != http.StatusForbidden {
			t.Errorf("bob (PL 0) redacted alice's message: %d %s", status, raw)
		}
		bob.MustDo("PUT", servertest.Room(roomID)+"/redact/"+url.PathEscape(bobMsg)+"/r2", map[string]any{"reason": "oops"}, nil)
		var got struct {
			Content  map[string]any `json:"content"`
			Unsigned struct {
				RedactedBecause *ev `json:"redacted_because"`
			} `json:"unsigned"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(bobMsg), nil, &got)
		if len(got.Content) != 0 || got.Unsigned.RedactedBecause == nil {
			t.Errorf("redacted event = %+v", got)
		}
		// The moderator (alice, PL 100) may redact others.
		alice.MustDo("PUT", servertest.Room(roomID)+"/redact/"+url.PathEscape(aliceMsg)+"/r3", map[string]any{}, nil)
	})
}

func TestContextAndMembersAt(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		alice.SendText(roomID, "one")
		mid := alice.SendText(roomID, "two")
		var msgs struct {
			Start string `json:"start"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=1", nil, &msgs)
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		alice.SendText(roomID, "three")

		var c struct {
			Event        ev   `json:"event"`
			EventsBefore []ev `json:"events_before"`
			EventsAfter  []ev `json:"events_after"`
			State        []ev `json:"state"`
			Start, End   string
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/context/"+url.PathEscape(mid)+"?limit=10", nil, &c)
		if c.Event.EventID != mid || strings.Join(bodies(c.EventsAfter), "|") != "three" || len(c.State) == 0 {
			t.Errorf("context: event %s after %v state %d", c.Event.EventID, bodies(c.EventsAfter), len(c.State))
		}
		if b := bodies(c.EventsBefore); len(b) != 1 || b[0] != "one" {
			t.Errorf("events_before = %v", b)
		}
		// Members at a token from before bob joined: only alice.
		var members struct {
			Chunk []ev `json:"chunk"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/members?at="+msgs.Start+"&membership=join", nil, &members)
		if len(members.Chunk) != 1 || *members.Chunk[0].StateKey != alice.UserID {
			t.Errorf("members at the old token = %d", len(members.Chunk))
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/members", nil, &members)
		if len(members.Chunk) != 2 {
			t.Errorf("current members = %d", len(members.Chunk))
		}
		var joined struct {
			Joined map[string]any `json:"joined"`
		}
		bob.MustDo("GET", servertest.Room(roomID)+"/joined_members", nil, &joined)
		if len(joined.Joined) != 2 {
			t.Errorf("joined_members = %v", joined.Joined)
		}
	})
}

func TestLeaveForgetAndSyncLeaveSection(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		var first syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
		status, raw := bob.Do("POST", servertest.Room(roomID)+"/forget", map[string]any{}, nil)
		if status != http.StatusBadRequest {
			t.Errorf("forget while joined: %d %s", status, raw)
		}
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", map[string]any{}, nil)
		var next syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=2000&since="+first.NextBatch, nil, &next)
		if _, ok := next.Rooms.Leave[roomID]; !ok {
			t.Errorf("the left room must appear in rooms.leave: %+v", next.Rooms)
		}
		alice.SendText(roomID, "after bob left")
		status, raw = bob.Do("GET", servertest.Room(roomID)+"/messages?dir=b", nil, nil)
		if status != http.StatusOK || strings.Contains(string(raw), "after bob left") {
			t.Errorf("a former member reads up to their leave only: %d %s", status, raw)
		}
		bob.MustDo("POST", servertest.Room(roomID)+"/forget", map[string]any{}, nil)
		// POST /rooms/{roomId}/forget: "a user will no longer be able to
		// retrieve history for this room".
		if status, raw := bob.Do("GET", servertest.Room(roomID)+"/messages?dir=b", nil, nil); status != http.StatusForbidden {
			t.Errorf("/messages after forgetting: %d %s, want 403", status, raw)
		}
		var joined struct {
			JoinedRooms []string `json:"joined_rooms"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/joined_rooms", nil, &joined)
		if len(joined.JoinedRooms) != 0 {
			t.Errorf("joined_rooms after leaving = %v", joined.JoinedRooms)
		}
	})
}

// Forgetting needs a room the user has been in: a room that does not exist,
// or one the user never had a membership in, is 404 M_NOT_FOUND rather than
// a 200 that stores a row for it.
func TestForget_RoomNeverJoinedIsNotFound(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		for _, room := range []string{"!unknown:localhost", roomID} {
			status, raw := bob.Do("POST", servertest.Room(room)+"/forget", map[string]any{}, nil)
			if status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("forget %s: %d %s, want 404 M_NOT_FOUND", room, status, raw)
			}
		}
		// Invited, then rejected: the room is in the leave section and may
		// be forgotten.
		alice.MustDo("POST", servertest.Room(roomID)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		status, raw := bob.Do("POST", servertest.Room(roomID)+"/forget", map[string]any{}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_UNKNOWN" {
			t.Errorf("forget while invited: %d %s, want 400 M_UNKNOWN", status, raw)
		}
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", map[string]any{}, nil)
		bob.MustDo("POST", servertest.Room(roomID)+"/forget", map[string]any{}, nil)
	})
}

func TestKnockOnKnockableRoom(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"initial_state": []any{
			map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		bob.MustDo("POST", "/_matrix/client/v3/knock/"+url.PathEscape(roomID), map[string]any{"reason": "let me in"}, nil)
		var m struct {
			Membership string `json:"membership"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/state/m.room.member/"+url.PathEscape(bob.UserID), nil, &m)
		if m.Membership != "knock" {
			t.Fatalf("membership after knocking = %q", m.Membership)
		}
		alice.MustDo("POST", servertest.Room(roomID)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)

		// Knocking on an invite-only room is refused by the auth rules.
		other := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		status, _ := bob.Do("POST", "/_matrix/client/v3/knock/"+url.PathEscape(other), map[string]any{}, nil)
		if status != http.StatusForbidden {
			t.Errorf("knock on an invite-only room: %d", status)
		}
	})
}

// Spec: client-server-api "GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event"
// (v1.6); the v3 path Myelin served before keeps working.
func TestTimestampToEvent_ServedUnderV1(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		id := alice.SendText(roomID, "now")
		for _, prefix := range []string{"/_matrix/client/v1/rooms/", "/_matrix/client/v3/rooms/"} {
			path := prefix + url.PathEscape(roomID) + "/timestamp_to_event"
			var got struct {
				EventID        string `json:"event_id"`
				OriginServerTS int64  `json:"origin_server_ts"`
			}
			alice.MustDo("GET", path+"?dir=b&ts=99999999999999", nil, &got)
			if got.EventID != id {
				t.Errorf("%s: latest event before the far future = %s, want %s", prefix, got.EventID, id)
			}
			status, raw := alice.Do("GET", path+"?dir=f&ts=99999999999999", nil, nil)
			if status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("%s: nothing after the far future: %d %s", prefix, status, raw)
			}
		}
	})
}

func TestSyncFiltersAndLazyLoading(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		carol.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		// Five more members: with bob and carol, the first five of them
		// after alice are the heroes; the last two are neither heroes nor
		// senders.
		var later []*servertest.Client
		for i := 0; i < 5; i++ {
			u := s.Register("user" + strconv.Itoa(i))
			u.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
			later = append(later, u)
		}
		for i := 0; i < 5; i++ {
			bob.SendText(roomID, "m"+strconv.Itoa(i))
		}
		var f struct {
			FilterID string `json:"filter_id"`
		}
		filter := map[string]any{"room": map[string]any{"timeline": map[string]any{"limit": 2}, "state": map[string]any{"lazy_load_members": true}}}
		alice.MustDo("POST", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/filter", filter, &f)
		var resp syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync?filter="+f.FilterID, nil, &resp)
		room := resp.Rooms.Join[roomID]
		if got := bodies(decodeEvents(t, room.Timeline.Events)); strings.Join(got, "|") != "m3|m4" || !room.Timeline.Limited || room.Timeline.PrevBatch == "" {
			t.Errorf("timeline = %v limited=%v", got, room.Timeline.Limited)
		}
		members := map[string]bool{}
		for _, e := range decodeEvents(t, room.State.Events) {
			if e.Type == "m.room.member" {
				members[*e.StateKey] = true
			}
		}
		wantHeroes := []string{bob.UserID, carol.UserID, later[0].UserID, later[1].UserID, later[2].UserID}
		if got, _ := json.Marshal(room.Summary); !strings.Contains(string(got), `"m.joined_member_count":8`) ||
			!strings.Contains(string(got), `"m.heroes":["`+strings.Join(wantHeroes, `","`)+`"]`) {
			t.Errorf("summary = %s, want 8 joined and heroes %v in the order they joined", got, wantHeroes)
		}
		// Lazy loading: alice herself, the sender bob, and the heroes (the
		// spec requires their member events with the summary); not the
		// members who are neither.
		for _, u := range append([]string{alice.UserID}, wantHeroes...) {
			if !members[u] {
				t.Errorf("lazy-loaded members = %v: %s missing", members, u)
			}
		}
		if members[later[3].UserID] || members[later[4].UserID] {
			t.Errorf("lazy-loaded members = %v: neither heroes nor senders included", members)
		}
		// The prev_batch token continues backwards through /messages.
		var more struct {
			Chunk []ev `json:"chunk"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=2&from="+room.Timeline.PrevBatch, nil, &more)
		if got := bodies(more.Chunk); strings.Join(got, "|") != "m2|m1" {
			t.Errorf("messages from prev_batch = %v", got)
		}

		// An incremental lazy sync carries the member event of a new
		// sender, who is not a hero.
		later[4].SendText(roomID, "late")
		var next syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync?filter="+f.FilterID+"&since="+resp.NextBatch, nil, &next)
		members = map[string]bool{}
		for _, e := range decodeEvents(t, next.Rooms.Join[roomID].State.Events) {
			if e.Type == "m.room.member" {
				members[*e.StateKey] = true
			}
		}
		if !members[later[4].UserID] {
			t.Errorf("incremental lazy sync: member events %v, want the new sender %s", members, later[4].UserID)
		}
	})
}

// With nobody else joined or invited, the heroes are the members who left
// (client-server-api "/sync", m.heroes).
func TestSyncHeroesFallBackToFormerMembers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		bob.MustDo("POST", servertest.Room(roomID)+"/leave", map[string]any{}, nil)
		var resp syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &resp)
		sum := resp.Rooms.Join[roomID].Summary
		if got, _ := json.Marshal(sum["m.heroes"]); string(got) != `["`+bob.UserID+`"]` || sum["m.joined_member_count"] != float64(1) {
			t.Errorf("summary = %v, want bob as the hero and 1 joined", sum)
		}
	})
}

func TestStateEventsCarryPrevContent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"name": "first"})
		alice.MustDo("PUT", servertest.Room(roomID)+"/state/m.room.name/", map[string]any{"name": "second"}, nil)
		var msgs struct {
			Chunk []struct {
				Type     string `json:"type"`
				Unsigned struct {
					PrevContent map[string]any `json:"prev_content"`
				} `json:"unsigned"`
			} `json:"chunk"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=1", nil, &msgs)
		if len(msgs.Chunk) != 1 || msgs.Chunk[0].Unsigned.PrevContent["name"] != "first" {
			t.Errorf("prev_content = %+v", msgs.Chunk)
		}
	})
}

// A filter's event_fields keeps only the named fields of the timeline and
// state events; event_format "federation" sends them as servers exchange
// them; any other event_format is refused (client-server-api "Filtering").
func TestSyncEventFieldsAndFormat(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"name": "shaped"})
		id := alice.SendText(roomID, "hello")
		syncWith := func(filter string) map[string]json.RawMessage {
			t.Helper()
			var resp syncResp
			alice.MustDo("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(filter), nil, &resp)
			room, ok := resp.Rooms.Join[roomID]
			if !ok {
				t.Fatalf("filter %s: room missing", filter)
			}
			all := map[string]json.RawMessage{}
			for _, raw := range append(room.State.Events, room.Timeline.Events...) {
				var fields map[string]json.RawMessage
				if err := json.Unmarshal(raw, &fields); err != nil {
					t.Fatal(err)
				}
				all[string(fields["type"])+string(fields["event_id"])+string(raw)] = raw
			}
			return all
		}

		for _, raw := range syncWith(`{"event_fields":["type","content.body","content.name"]}`) {
			var got map[string]map[string]any
			_ = json.Unmarshal(raw, &got)
			for k := range got {
				if k != "type" && k != "content" {
					t.Errorf("event_fields: event %s has %q", raw, k)
				}
			}
			for k := range got["content"] {
				if k != "body" && k != "name" {
					t.Errorf("event_fields: content of %s has %q", raw, k)
				}
			}
		}

		var sawMessage bool
		for _, raw := range syncWith(`{"event_format":"federation","room":{"timeline":{"limit":50}}}`) {
			var got map[string]json.RawMessage
			_ = json.Unmarshal(raw, &got)
			for _, k := range []string{"auth_events", "prev_events", "hashes", "signatures", "depth", "room_id", "event_id"} {
				if k == "room_id" && string(got["type"]) == `"m.room.create"` {
					continue // in room version 12 the create event's hash is the room ID
				}
				if _, ok := got[k]; !ok {
					t.Errorf("federation format: %s lacks %q", raw, k)
				}
			}
			if string(got["event_id"]) == `"`+id+`"` {
				sawMessage = true
			}
		}
		if !sawMessage {
			t.Errorf("federation format: the message %s is missing", id)
		}

		status, raw := alice.Do("POST", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/filter",
			map[string]any{"event_format": "xml"}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_BAD_JSON" {
			t.Errorf("filter with event_format xml: %d %s", status, raw)
		}
		status, raw = alice.Do("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(`{"event_format":"xml"}`), nil, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_BAD_JSON" {
			t.Errorf("sync with event_format xml: %d %s", status, raw)
		}
	})
}

// Membership changes name their target by user ID. One of this server's
// users must match the grammar it registers users with (appendices, "User
// Identifiers"); another server's user ID must at least parse, as historical
// IDs there are still to be accepted.
func TestMembership_TargetMustBeAUserIDAServerCanHave(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bad := []string{"@:localhost", "@bob smith:localhost", "@bob\u200b:localhost", "@Bob:localhost",
			"bob", "@bob:bad server", "@bob:"}
		for _, action := range []string{"invite", "kick", "ban", "unban"} {
			for _, target := range bad {
				status, raw := alice.Do("POST", servertest.Room(roomID)+"/"+action, map[string]any{"user_id": target}, nil)
				if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
					t.Errorf("%s %q: %d %s, want 400 M_INVALID_PARAM", action, target, status, raw)
				}
			}
		}
		for _, target := range bad {
			status, raw := alice.Do("POST", "/_matrix/client/v3/createRoom", map[string]any{"invite": []string{target}}, nil)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("createRoom inviting %q: %d %s, want 400 M_INVALID_PARAM", target, status, raw)
			}
		}
		// A historical remote ID parses, so it may be banned.
		alice.MustDo("POST", servertest.Room(roomID)+"/ban", map[string]any{"user_id": "@Old Name:remote.example"}, nil)
	})
}

// createRoom's creation_content and power_level_content_override are event
// content like any other: their numbers keep the client's text and meet the
// same canonical JSON rules as PUT /send (room version 12: integers only,
// within ±(2^53-1)), instead of passing through float64 (1e2 becoming 100,
// 2^53+1 silently rounded).
func TestCreateRoom_ContentNumbersFollowCanonicalJSON(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		for _, tc := range []struct{ name, path, method, body string }{
			{"send float", servertest.Room(roomID) + "/send/m.x/t1", "PUT", `{"n":1e2}`},
			{"creation_content float", "/_matrix/client/v3/createRoom", "POST", `{"creation_content":{"n":1e2}}`},
			{"creation_content big integer", "/_matrix/client/v3/createRoom", "POST", `{"creation_content":{"n":9007199254740993}}`},
			{"power level float", "/_matrix/client/v3/createRoom", "POST", `{"power_level_content_override":{"ban":1e2}}`},
			{"power level big integer", "/_matrix/client/v3/createRoom", "POST", `{"power_level_content_override":{"users_default":9007199254740993}}`},
			{"power level string", "/_matrix/client/v3/createRoom", "POST", `{"power_level_content_override":{"events":{"m.x":"50"}}}`},
			{"creation_content not an object", "/_matrix/client/v3/createRoom", "POST", `{"creation_content":[1]}`},
		} {
			status, raw := alice.Do(tc.method, tc.path, tc.body, nil)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_BAD_JSON" {
				t.Errorf("%s: %d %s, want 400 M_BAD_JSON", tc.name, status, raw)
			}
		}

		var created struct {
			RoomID string `json:"room_id"`
		}
		alice.MustDo("POST", "/_matrix/client/v3/createRoom",
			`{"creation_content":{"n":9007199254740991,"m.federate":false},"power_level_content_override":{"ban":60}}`, &created)
		var create map[string]json.RawMessage
		alice.MustDo("GET", servertest.Room(created.RoomID)+"/state/m.room.create/", nil, &create)
		if string(create["n"]) != "9007199254740991" || string(create["m.federate"]) != "false" {
			t.Errorf("create content = %v", create)
		}
		var pl map[string]json.RawMessage
		alice.MustDo("GET", servertest.Room(created.RoomID)+"/state/m.room.power_levels/", nil, &pl)
		if string(pl["ban"]) != "60" || string(pl["kick"]) != "50" {
			t.Errorf("power levels = %v", pl)
		}
	})
}
