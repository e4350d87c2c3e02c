package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type syncResp struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events    []json.RawMessage `json:"events"`
				Limited   bool              `json:"limited"`
				PrevBatch string            `json:"prev_batch"`
			} `json:"timeline"`
			State struct {
				Events []json.RawMessage `json:"events"`
			} `json:"state"`
			Summary map[string]any `json:"summary"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events []json.RawMessage `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]json.RawMessage `json:"leave"`
	} `json:"rooms"`
	AccountData struct {
		Events []json.RawMessage `json:"events"`
	} `json:"account_data"`
}

type ev struct {
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
	Unsigned struct {
		TransactionID string `json:"transaction_id"`
	} `json:"unsigned"`
}

func decodeEvents(t *testing.T, raws []json.RawMessage) []ev {
	out := make([]ev, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func bodies(evs []ev) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "m.room.message" {
			var c struct{ Body string }
			_ = json.Unmarshal(e.Content, &c)
			out = append(out, c.Body)
		}
	}
	return out
}

func eachServer(t *testing.T, fn func(t *testing.T, s *servertest.Server)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, servertest.Start(t, db, servertest.Options{}))
	})
}

// The operator's walkthrough: create a room, invite, join, talk, and both
// users see the conversation in /sync.
func TestTwoUsersChatThroughSync(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"name": "Tea", "preset": "private_chat"})

		var bobSync syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &bobSync)

		alice.MustDo("POST", servertest.Room(roomID)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		var inv syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=5000&since="+bobSync.NextBatch, nil, &inv)
		if _, ok := inv.Rooms.Invite[roomID]; !ok {
			t.Fatalf("bob's sync has no invite: %+v", inv.Rooms)
		}
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil)
		alice.SendText(roomID, "hello bob")
		bob.SendText(roomID, "hello alice")

		var full syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &full)
		room, ok := full.Rooms.Join[roomID]
		if !ok {
			t.Fatalf("room missing from bob's initial sync")
		}
		got := bodies(decodeEvents(t, room.Timeline.Events))
		if strings.Join(got, "|") != "hello bob|hello alice" {
			t.Errorf("timeline = %v", got)
		}
		var name string
		for _, e := range decodeEvents(t, append(room.State.Events, room.Timeline.Events...)) {
			if e.Type == "m.room.name" {
				var c struct{ Name string }
				_ = json.Unmarshal(e.Content, &c)
				name = c.Name
			}
		}
		if name != "Tea" {
			t.Errorf("room name not in state: %q", name)
		}
	})
}

// Long-polling returns as soon as something new arrives, and the since
// token only yields what came after it.
func TestIncrementalSyncWakesOnNewMessage(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		var first syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)

		done := make(chan syncResp)
		go func() {
			var next syncResp
			alice.MustDo("GET", "/_matrix/client/v3/sync?timeout=20000&since="+first.NextBatch, nil, &next)
			done <- next
		}()
		time.Sleep(100 * time.Millisecond)
		alice.SendText(roomID, "wake up")
		select {
		case next := <-done:
			got := bodies(decodeEvents(t, next.Rooms.Join[roomID].Timeline.Events))
			if strings.Join(got, "|") != "wake up" {
				t.Errorf("incremental timeline = %v", got)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("sync did not wake up on a new message")
		}
	})
}

func TestSendIsIdempotentPerTransactionID(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		path := servertest.Room(roomID) + "/send/m.room.message/txn1"
		var a, b struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", path, map[string]any{"msgtype": "m.text", "body": "once"}, &a)
		alice.MustDo("PUT", path, map[string]any{"msgtype": "m.text", "body": "once"}, &b)
		if a.EventID == "" || a.EventID != b.EventID {
			t.Fatalf("retry created a second event: %q vs %q", a.EventID, b.EventID)
		}
		var got ev
		alice.MustDo("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(a.EventID), nil, &got)
		if got.Unsigned.TransactionID != "txn1" {
			t.Errorf("the sending device sees its transaction_id, got %q", got.Unsigned.TransactionID)
		}
	})
}

func TestNonMembersCannotReadOrWrite(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, eve := s.Register("alice"), s.Register("eve")
		roomID := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		alice.SendText(roomID, "secret")
		for _, c := range []struct{ method, path string }{
			{"GET", servertest.Room(roomID) + "/messages"},
			{"GET", servertest.Room(roomID) + "/state"},
			{"GET", servertest.Room(roomID) + "/members"},
			{"GET", servertest.Room(roomID) + "/state/m.room.name/"},
		} {
			status, raw := eve.Do(c.method, c.path, nil, nil)
			if status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
				t.Errorf("%s %s by a non-member: %d %s", c.method, c.path, status, raw)
			}
		}
		status, raw := eve.Do("PUT", servertest.Room(roomID)+"/send/m.room.message/x", map[string]any{"body": "hi"}, nil)
		if status != http.StatusForbidden {
			t.Errorf("send by non-member: %d %s", status, raw)
		}
		status, raw = eve.Do("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil)
		if status != http.StatusForbidden {
			t.Errorf("join of an invite-only room without invite: %d %s", status, raw)
		}
	})
}

func TestPowerLevelsGuardStateAndKicks(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		carol.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)

		status, raw := bob.Do("PUT", servertest.Room(roomID)+"/state/m.room.name/", map[string]any{"name": "bob's now"}, nil)
		if status != http.StatusForbidden {
			t.Errorf("bob (PL 0) changed the name: %d %s", status, raw)
		}
		status, raw = bob.Do("POST", servertest.Room(roomID)+"/kick", map[string]any{"user_id": carol.UserID}, nil)
		if status != http.StatusForbidden {
			t.Errorf("bob (PL 0) kicked carol: %d %s", status, raw)
		}
		alice.MustDo("POST", servertest.Room(roomID)+"/ban", map[string]any{"user_id": carol.UserID, "reason": "spam"}, nil)
		status, raw = carol.Do("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		if status != http.StatusForbidden {
			t.Errorf("banned carol rejoined: %d %s", status, raw)
		}
		alice.MustDo("POST", servertest.Room(roomID)+"/unban", map[string]any{"user_id": carol.UserID}, nil)
		carol.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
	})
}

func TestHistoryVisibilityJoinedHidesEarlierMessages(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat",
			"initial_state": []any{map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
		alice.SendText(roomID, "before bob")
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		alice.SendText(roomID, "after bob")
		var msgs struct {
			Chunk []ev `json:"chunk"`
		}
		bob.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=50", nil, &msgs)
		got := bodies(msgs.Chunk)
		if strings.Join(got, "|") != "after bob" {
			t.Errorf("bob sees %v, want only the message after he joined", got)
		}
	})
}

func TestMessagesPaginateBackwardsAndForwards(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		for i := 0; i < 5; i++ {
			alice.SendText(roomID, string(rune('a'+i)))
		}
		type page struct {
			Chunk []ev   `json:"chunk"`
			Start string `json:"start"`
			End   string `json:"end"`
		}
		var p1, p2 page
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=2", nil, &p1)
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=b&limit=2&from="+p1.End, nil, &p2)
		if got := strings.Join(append(bodies(p1.Chunk), bodies(p2.Chunk)...), ""); got != "edcb" {
			t.Errorf("backwards pages = %q", got)
		}
		var f page
		alice.MustDo("GET", servertest.Room(roomID)+"/messages?dir=f&limit=100&from="+p2.End, nil, &f)
		if got := strings.Join(bodies(f.Chunk), ""); got != "bcde" {
			t.Errorf("forwards from the second page's end = %q", got)
		}
	})
}

func TestBadRequestsGetMatrixErrors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"not JSON", "PUT", servertest.Room(roomID) + "/send/m.room.message/t1", "{nope", 400, "M_NOT_JSON"},
			{"content not an object", "PUT", servertest.Room(roomID) + "/send/m.room.message/t2", "[1]", 400, "M_BAD_JSON"},
			{"too large", "PUT", servertest.Room(roomID) + "/send/m.room.message/t3", `{"body":"` + strings.Repeat("x", 70000) + `"}`, 413, "M_TOO_LARGE"},
			{"unknown room version", "POST", "/_matrix/client/v3/createRoom", map[string]any{"room_version": "99"}, 400, "M_UNSUPPORTED_ROOM_VERSION"},
			{"unknown endpoint", "GET", "/_matrix/client/v3/nope", nil, 404, "M_UNRECOGNIZED"},
			{"string power level", "PUT", servertest.Room(roomID) + "/state/m.room.power_levels/", map[string]any{"ban": "50"}, 400, "M_BAD_JSON"},
			{"unknown event", "GET", servertest.Room(roomID) + "/event/$nope", nil, 404, "M_NOT_FOUND"},
		}
		for _, c := range cases {
			status, raw := alice.Do(c.method, c.path, c.body, nil)
			if status != c.status || servertest.Errcode(raw) != c.code {
				t.Errorf("%s: got %d %s, want %d %s", c.name, status, raw, c.status, c.code)
			}
		}
		anon := s.Anonymous()
		status, raw := anon.Do("GET", "/_matrix/client/v3/joined_rooms", nil, nil)
		if status != 401 || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
			t.Errorf("no token: %d %s", status, raw)
		}
		anon.AccessToken = "bogus"
		status, raw = anon.Do("GET", "/_matrix/client/v3/joined_rooms", nil, nil)
		if status != 401 || servertest.Errcode(raw) != "M_UNKNOWN_TOKEN" {
			t.Errorf("bad token: %d %s", status, raw)
		}
	})
}

func TestAliasesAndPublicDirectory(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"visibility": "public", "room_alias_name": "tea", "name": "Tea room", "topic": "oolong"})
		var res struct {
			RoomID string `json:"room_id"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#tea:localhost"), nil, &res)
		if res.RoomID != roomID {
			t.Fatalf("alias resolves to %q", res.RoomID)
		}
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape("#tea:localhost"), map[string]any{}, nil)
		var pub struct {
			Chunk []struct {
				RoomID           string `json:"room_id"`
				Name             string `json:"name"`
				NumJoinedMembers int    `json:"num_joined_members"`
				CanonicalAlias   string `json:"canonical_alias"`
			} `json:"chunk"`
		}
		bob.MustDo("POST", "/_matrix/client/v3/publicRooms", map[string]any{"filter": map[string]any{"generic_search_term": "oolong"}}, &pub)
		if len(pub.Chunk) != 1 || pub.Chunk[0].RoomID != roomID || pub.Chunk[0].NumJoinedMembers != 2 || pub.Chunk[0].CanonicalAlias != "#tea:localhost" {
			t.Errorf("public rooms = %+v", pub.Chunk)
		}
		status, raw := alice.Do("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape("#tea:localhost"), map[string]any{"room_id": roomID}, nil)
		if status != http.StatusConflict {
			t.Errorf("duplicate alias: %d %s", status, raw)
		}
	})
}

// GET /rooms/{roomId}/aliases is for members (client-server-api, "Room
// aliases"), and, as in Synapse, for server admins, whose tools list a
// user's rooms by alias.
func TestRoomAliasList_MembersAndServerAdminsOnly(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, admin := s.Register("alice"), s.Register("bob"), newAdmin(t, s, "admin")
		roomID := alice.CreateRoom(map[string]any{"room_alias_name": "den"})
		path := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/aliases"
		if status, raw := bob.Do("GET", path, nil, nil); status != http.StatusForbidden {
			t.Errorf("non-member: %d %s, want 403", status, raw)
		}
		for _, c := range []*servertest.Client{alice, admin} {
			var res struct {
				Aliases []string `json:"aliases"`
			}
			c.MustDo("GET", path, nil, &res)
			if len(res.Aliases) != 1 || res.Aliases[0] != "#den:localhost" {
				t.Errorf("%s sees aliases %v, want [#den:localhost]", c.UserID, res.Aliases)
			}
		}
	})
}

func TestAccountDataAppearsInSync(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		var first syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
		alice.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/org.example.x", map[string]any{"a": 1}, nil)
		var next syncResp
		alice.MustDo("GET", "/_matrix/client/v3/sync?timeout=5000&since="+first.NextBatch, nil, &next)
		if len(next.AccountData.Events) != 1 || !strings.Contains(string(next.AccountData.Events[0]), "org.example.x") {
			t.Errorf("account data in sync = %s", next.AccountData.Events)
		}
	})
}

// Operators see how many rooms the engine holds in memory.
func TestRoomsInMemoryIsAMetric(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		alice.CreateRoom(map[string]any{})
		mfs, err := s.Metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "myelin_rooms_in_memory" {
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v < 1 {
					t.Errorf("myelin_rooms_in_memory = %v right after a room was created", v)
				}
				return
			}
		}
		t.Fatal("no myelin_rooms_in_memory metric")
	})
}
