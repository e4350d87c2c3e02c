package server_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// roomPreview is the part of a room initialSync the tests read.
type roomPreview struct {
	RoomID     string `json:"room_id"`
	Membership string `json:"membership"`
	Messages   struct {
		Chunk []struct {
			EventID string          `json:"event_id"`
			RoomID  string          `json:"room_id"`
			Content json.RawMessage `json:"content"`
		} `json:"chunk"`
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"messages"`
	State []struct {
		Type string `json:"type"`
	} `json:"state"`
	Presence []struct {
		Type    string `json:"type"`
		Sender  string `json:"sender"`
		Content struct {
			UserID   string `json:"user_id"`
			Presence string `json:"presence"`
		} `json:"content"`
	} `json:"presence"`
	AccountData []struct {
		Type string `json:"type"`
	} `json:"account_data"`
	Visibility string `json:"visibility"`
}

// peekChunk is a GET /events answer.
type peekChunk struct {
	Chunk []struct {
		EventID string `json:"event_id"`
		RoomID  string `json:"room_id"`
		Type    string `json:"type"`
	} `json:"chunk"`
	Start string `json:"start"`
	End   string `json:"end"`
}

func worldReadableRoom(c *servertest.Client) string {
	return c.CreateRoom(map[string]any{"preset": "public_chat", "visibility": "public", "initial_state": []map[string]any{
		{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "world_readable"}},
	}})
}

func peekPath(roomID, from, timeoutMS string) string {
	q := url.Values{"room_id": {roomID}, "timeout": {timeoutMS}}
	if from != "" {
		q.Set("from", from)
	}
	return "/_matrix/client/v3/events?" + q.Encode()
}

// client-server-api "Room Previews": anyone, a guest too, may preview a
// world_readable room without joining it: its state, its latest messages
// with a token /messages pages back from, and no membership claimed.
func TestRoomPreview_WorldReadableRoomByNonMemberAndGuest(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := worldReadableRoom(alice)
		for _, text := range []string{"one", "two", "three"} {
			alice.SendText(room, text)
		}
		alice.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/rooms/"+url.PathEscape(room)+"/tags/u.work", map[string]any{}, nil)

		for name, c := range map[string]*servertest.Client{"non-member": s.Register("bob"), "guest": registerGuest(t, s)} {
			var p roomPreview
			c.MustDo("GET", servertest.Room(room)+"/initialSync?limit=2", nil, &p)
			if p.RoomID != room || p.Membership != "" || p.Visibility != "public" {
				t.Errorf("%s: room_id %q membership %q visibility %q", name, p.RoomID, p.Membership, p.Visibility)
			}
			if len(p.Messages.Chunk) != 2 || string(p.Messages.Chunk[1].Content) != `{"body":"three","msgtype":"m.text"}` {
				t.Errorf("%s: messages %+v, want two ending with the latest", name, p.Messages.Chunk)
			}
			if len(p.State) == 0 || len(p.Presence) != 0 || len(p.AccountData) != 0 {
				t.Errorf("%s: %d state events, presence %v, account data %v", name, len(p.State), p.Presence, p.AccountData)
			}
			// The start token pages back from the chunk through /messages.
			var older struct {
				Chunk []struct {
					Content json.RawMessage `json:"content"`
				} `json:"chunk"`
			}
			c.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=1&from="+url.QueryEscape(p.Messages.Start), nil, &older)
			if len(older.Chunk) != 1 || string(older.Chunk[0].Content) != `{"body":"one","msgtype":"m.text"}` {
				t.Errorf("%s: /messages from start = %+v, want the message before the chunk", name, older.Chunk)
			}
		}

		var own roomPreview
		alice.MustDo("GET", servertest.Room(room)+"/initialSync", nil, &own)
		if own.Membership != "join" || len(own.AccountData) != 1 || own.AccountData[0].Type != "m.tag" {
			t.Errorf("member's initialSync: membership %q account data %+v", own.Membership, own.AccountData)
		}
		// A member sees the joined members' presence (a peeker none).
		if len(own.Presence) != 1 || own.Presence[0].Type != "m.presence" || own.Presence[0].Sender != alice.UserID ||
			own.Presence[0].Content.UserID != alice.UserID || own.Presence[0].Content.Presence == "" {
			t.Errorf("member's initialSync presence = %+v, want alice's", own.Presence)
		}
	})
}

// room_initial_sync.yaml: 403 for a user who is not and was not a member
// of a room that is not world_readable; a former member sees the room as
// they left it.
func TestRoomPreview_SharedRoomRefusedToNonMembers(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		guest := registerGuest(t, s)
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		alice.SendText(room, "members only")
		for name, c := range map[string]*servertest.Client{"non-member": bob, "guest": guest} {
			for _, path := range []string{servertest.Room(room) + "/initialSync", peekPath(room, "", "0")} {
				if status, raw := c.Do("GET", path, nil, nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
					t.Errorf("%s: GET %s: %d %s, want 403 M_FORBIDDEN", name, path, status, raw)
				}
			}
		}

		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		alice.SendText(room, "after bob left")
		var p roomPreview
		bob.MustDo("GET", servertest.Room(room)+"/initialSync", nil, &p)
		if p.Membership != "leave" {
			t.Errorf("former member's membership %q, want leave", p.Membership)
		}
		for _, ev := range p.Messages.Chunk {
			if string(ev.Content) == `{"body":"after bob left","msgtype":"m.text"}` {
				t.Error("a former member sees a message sent after they left")
			}
		}
		if status, raw := bob.Do("GET", peekPath(room, "", "0"), nil, nil); status != 403 {
			t.Errorf("former member peeks a shared room: %d %s, want 403", status, raw)
		}
	})
}

// peeking_events.yaml: GET /events?room_id= waits for the room's next
// event, answers an empty chunk when the timeout passes, and each end
// token is the next request's from.
func TestRoomPreview_EventsWakesOnNewMessageAndTokensChain(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := worldReadableRoom(alice)
		other := alice.CreateRoom(map[string]any{})
		for name, c := range map[string]*servertest.Client{"non-member": s.Register("bob"), "guest": registerGuest(t, s)} {
			var p roomPreview
			c.MustDo("GET", servertest.Room(room)+"/initialSync", nil, &p)

			// Nothing new: the timeout answers an empty chunk; events of
			// other rooms move the token on but are not shown.
			alice.SendText(other, "elsewhere")
			var empty peekChunk
			c.MustDo("GET", peekPath(room, p.Messages.End, "0"), nil, &empty)
			if len(empty.Chunk) != 0 || empty.Start != p.Messages.End || empty.End == "" {
				t.Fatalf("%s: /events with nothing new = %+v", name, empty)
			}

			// A long poll from that end token is answered by the next
			// message (whether it was sent before or while it waited).
			got := make(chan peekChunk, 1)
			go func() {
				var out peekChunk
				if status, raw := c.Do("GET", peekPath(room, empty.End, "60000"), nil, &out); status != 200 {
					t.Errorf("%s: long poll %d %s", name, status, raw)
				}
				got <- out
			}()
			first := alice.SendText(room, "wake up "+name)
			woken := <-got
			if len(woken.Chunk) != 1 || woken.Chunk[0].EventID != first || woken.Chunk[0].RoomID != room {
				t.Fatalf("%s: long poll answered %+v, want only %s", name, woken, first)
			}

			second := alice.SendText(room, "and again")
			var next peekChunk
			c.MustDo("GET", peekPath(room, woken.End, "0"), nil, &next)
			if len(next.Chunk) != 1 || next.Chunk[0].EventID != second {
				t.Fatalf("%s: /events from the previous end = %+v, want only %s", name, next, second)
			}
			var after peekChunk
			c.MustDo("GET", peekPath(room, next.End, "0"), nil, &after)
			if len(after.Chunk) != 0 {
				t.Errorf("%s: /events from the latest end = %+v, want nothing", name, after)
			}
		}
	})
}

// Events a peeker may not see are left out (room_previews.md "Server
// behaviour"), and once the room stops being world_readable a non-member
// may not peek any more.
func TestRoomPreview_EventsFollowHistoryVisibility(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := worldReadableRoom(alice)
		var p roomPreview
		bob.MustDo("GET", servertest.Room(room)+"/initialSync", nil, &p)
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.history_visibility/", map[string]any{"history_visibility": "shared"}, nil)
		alice.SendText(room, "not for peekers")
		if status, raw := bob.Do("GET", peekPath(room, p.Messages.End, "0"), nil, nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("peek of a room no longer world_readable: %d %s, want 403 M_FORBIDDEN", status, raw)
		}
		// A member follows the same room with /events.
		var mine peekChunk
		alice.MustDo("GET", peekPath(room, p.Messages.End, "0"), nil, &mine)
		if len(mine.Chunk) != 2 {
			t.Errorf("member's /events = %+v, want the visibility change and the message", mine)
		}
	})
}

// Events a peeker may not see do not hold back the ones after them: a
// long poll from before many hidden events answers the next visible one
// at once rather than waiting for a new event.
func TestRoomPreview_EventsSkipManyHiddenEvents(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := worldReadableRoom(alice)
		var p roomPreview
		bob.MustDo("GET", servertest.Room(room)+"/initialSync", nil, &p)
		visibility := func(v string) {
			alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.history_visibility/", map[string]any{"history_visibility": v}, nil)
		}
		visibility("joined")
		// A token after the change (peekers may not poll the room now; a
		// member may, and tokens are positions of the whole stream).
		var seen peekChunk
		alice.MustDo("GET", peekPath(room, p.Messages.End, "0"), nil, &seen)
		if len(seen.Chunk) != 1 {
			t.Fatalf("/events after the visibility change = %+v, want the change", seen)
		}
		for i := 0; i < 120; i++ { // more than one read of the room's events
			alice.SendText(room, "members only")
		}
		visibility("world_readable")
		last := alice.SendText(room, "for everyone again")
		var got peekChunk
		bob.MustDo("GET", peekPath(room, seen.End, "300000"), nil, &got)
		if n := len(got.Chunk); n == 0 || got.Chunk[n-1].EventID != last {
			t.Fatalf("/events past hidden events = %+v, want it to end with %s", got, last)
		}
	})
}

// Bad requests get the spec's errors: /events without room_id (the old
// stream of every room is not served) and a bad from token are 400.
func TestRoomPreview_EventsBadRequests(t *testing.T) {
	eachServerWithGuests(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := worldReadableRoom(alice)
		for path, code := range map[string]string{
			"/_matrix/client/v3/events?timeout=0":                                         "M_MISSING_PARAM",
			peekPath(room, "nonsense", "0"):                                               "M_INVALID_PARAM",
			"/_matrix/client/v3/events?timeout=soon&room_id=" + url.QueryEscape(room):     "M_INVALID_PARAM",
			"/_matrix/client/r0/events?timeout=0&from=x&room_id=" + url.QueryEscape(room): "M_INVALID_PARAM",
		} {
			if status, raw := alice.Do("GET", path, nil, nil); status != 400 || servertest.Errcode(raw) != code {
				t.Errorf("GET %s: %d %s, want 400 %s", path, status, raw, code)
			}
		}
		if status, raw := alice.Do("GET", servertest.Room("!nowhere:"+s.Config.ServerName)+"/initialSync", nil, nil); status != 403 {
			t.Errorf("initialSync of an unknown room: %d %s, want 403", status, raw)
		}
	})
}
