package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// ephemeralSync is what these tests read of a /sync: each joined room's
// ephemeral and account data events, and the presence events.
type ephemeralSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Ephemeral struct {
				Events []basicEvent `json:"events"`
			} `json:"ephemeral"`
			AccountData struct {
				Events []basicEvent `json:"events"`
			} `json:"account_data"`
		} `json:"join"`
	} `json:"rooms"`
	Presence struct {
		Events []basicEvent `json:"events"`
	} `json:"presence"`
}

type basicEvent struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}

// syncEphemeral runs one /sync (since may be "", query extra parameters).
func syncEphemeral(t *testing.T, c *servertest.Client, since string, params url.Values) ephemeralSync {
	t.Helper()
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	if since != "" {
		q.Set("since", since)
		if q.Get("timeout") == "" {
			q.Set("timeout", "0")
		}
	}
	var resp ephemeralSync
	c.MustDo("GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	return resp
}

// ephemeralOf returns the room's ephemeral events of type typ.
func (s ephemeralSync) ephemeralOf(roomID, typ string) []basicEvent {
	var out []basicEvent
	for _, e := range s.Rooms.Join[roomID].Ephemeral.Events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// typingUsers returns the user_ids of the room's m.typing event, and
// whether there was one.
func (s ephemeralSync) typingUsers(t *testing.T, roomID string) ([]string, bool) {
	t.Helper()
	evs := s.ephemeralOf(roomID, "m.typing")
	if len(evs) == 0 {
		return nil, false
	}
	if len(evs) > 1 {
		t.Fatalf("%d m.typing events in one room", len(evs))
	}
	var c struct {
		UserIDs []string `json:"user_ids"`
	}
	if err := json.Unmarshal(evs[0].Content, &c); err != nil {
		t.Fatal(err)
	}
	return c.UserIDs, true
}

func typingPath(roomID, userID string) string {
	return servertest.Room(roomID) + "/typing/" + url.PathEscape(userID)
}

// sharedRoom has alice create a public room and the others join it.
func sharedRoom(t *testing.T, alice *servertest.Client, others ...*servertest.Client) string {
	t.Helper()
	room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
	for _, c := range others {
		c.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
	}
	return room
}

// client-server-api "PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}":
// the other members see the typing user in their room's ephemeral events,
// and then see them stop.
func TestTypingAPI_MembersSeeTypingStartAndStop(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		first := syncEphemeral(t, bob, "", nil)
		alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		next := syncEphemeral(t, bob, first.NextBatch, nil)
		if got, _ := next.typingUsers(t, room); len(got) != 1 || got[0] != alice.UserID {
			t.Fatalf("bob sees %v typing, want alice", got)
		}
		alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": false}, nil)
		last := syncEphemeral(t, bob, next.NextBatch, nil)
		if got, ok := last.typingUsers(t, room); !ok || len(got) != 0 {
			t.Fatalf("after typing: false bob sees %v (%v), want an empty list", got, ok)
		}
		// Nothing new: no m.typing event at all.
		if _, ok := syncEphemeral(t, bob, last.NextBatch, nil).typingUsers(t, room); ok {
			t.Error("an m.typing event without a change")
		}
	})
}

// A message from the typing user ends their typing.
func TestTypingAPI_MessageStopsTyping(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		tok := syncEphemeral(t, bob, "", nil).NextBatch
		alice.SendText(room, "done typing")
		q := url.Values{"timeout": {"5000"}}
		for i := 0; i < 10; i++ {
			resp := syncEphemeral(t, bob, tok, q)
			if got, ok := resp.typingUsers(t, room); ok && len(got) == 0 {
				return
			}
			tok = resp.NextBatch
		}
		t.Fatal("alice's message did not end her typing")
	})
}

func TestTypingAPI_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		room := sharedRoom(t, alice, bob)
		for _, tc := range []struct {
			name    string
			c       *servertest.Client
			path    string
			body    any
			status  int
			errcode string
		}{
			{"another user's typing", alice, typingPath(room, bob.UserID), map[string]any{"typing": true}, http.StatusForbidden, "M_FORBIDDEN"},
			{"not a member", eve, typingPath(room, eve.UserID), map[string]any{"typing": true}, http.StatusForbidden, "M_FORBIDDEN"},
			{"unknown room", alice, typingPath("!nowhere:localhost", alice.UserID), map[string]any{"typing": true}, http.StatusForbidden, "M_FORBIDDEN"},
			{"no typing field", alice, typingPath(room, alice.UserID), map[string]any{"timeout": 1000}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"typing not a boolean", alice, typingPath(room, alice.UserID), map[string]any{"typing": "yes"}, http.StatusBadRequest, "M_BAD_JSON"},
			{"negative timeout", alice, typingPath(room, alice.UserID), map[string]any{"typing": true, "timeout": -1}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"not JSON", alice, typingPath(room, alice.UserID), "typing", http.StatusBadRequest, "M_NOT_JSON"},
		} {
			status, raw := tc.c.Do("PUT", tc.path, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.errcode)
			}
		}
		status, raw := s.Anonymous().Do("PUT", typingPath(room, alice.UserID), map[string]any{"typing": true}, nil)
		if status != http.StatusUnauthorized {
			t.Errorf("without a token: %d %s", status, raw)
		}
	})
}

// client-server-api "Ignoring Users": typing from ignored users is not
// shown; the ephemeral filter's not_types hides m.typing.
func TestTypingAPI_IgnoredUsersAndFiltersHideTyping(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{alice.UserID: map[string]any{}}}, nil)
		alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": true}, nil)
		carol.MustDo("PUT", typingPath(room, carol.UserID), map[string]any{"typing": true}, nil)
		if got, _ := syncEphemeral(t, bob, "", nil).typingUsers(t, room); len(got) != 1 || got[0] != carol.UserID {
			t.Errorf("bob, who ignores alice, sees %v typing, want carol only", got)
		}
		filter := url.Values{"filter": {`{"room":{"ephemeral":{"not_types":["m.typing"]}}}`}}
		if _, ok := syncEphemeral(t, bob, "", filter).typingUsers(t, room); ok {
			t.Error("not_types m.typing still shows typing")
		}
		filter = url.Values{"filter": {`{"room":{"ephemeral":{"not_rooms":["` + room + `"]}}}`}}
		if _, ok := syncEphemeral(t, bob, "", filter).typingUsers(t, room); ok {
			t.Error("not_rooms still shows the room's typing")
		}
	})
}

// A typing change is sent as one m.typing event shared by the syncs of
// every member who ignores none of the typers; a member who ignores one
// still gets the set without them, whoever synced first, and a change of
// the ignored list applies from the next sync (client-server-api
// "Ignoring Users").
func TestTypingAPI_SharedEventLeavesOutIgnoredTypersPerMember(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		ignoreUsers(t, bob, alice.UserID)
		bobTok := syncEphemeral(t, bob, "", nil).NextBatch
		carolTok := syncEphemeral(t, carol, "", nil).NextBatch
		alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		carol.MustDo("PUT", typingPath(room, carol.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		// Carol's sync builds the room's event first.
		cs := syncEphemeral(t, carol, carolTok, nil)
		if got, _ := cs.typingUsers(t, room); !equalUsers(got, alice.UserID, carol.UserID) {
			t.Fatalf("carol sees %v typing", got)
		}
		bs := syncEphemeral(t, bob, bobTok, nil)
		if got, _ := bs.typingUsers(t, room); !equalUsers(got, carol.UserID) {
			t.Fatalf("bob, who ignores alice, sees %v typing", got)
		}
		// Bob stops ignoring alice; the next change shows her.
		ignoreUsers(t, bob)
		carol.MustDo("PUT", typingPath(room, carol.UserID), map[string]any{"typing": false}, nil)
		if got, _ := syncEphemeral(t, bob, bs.NextBatch, nil).typingUsers(t, room); !equalUsers(got, alice.UserID) {
			t.Fatalf("after un-ignoring, bob sees %v typing", got)
		}
		if got, _ := syncEphemeral(t, carol, cs.NextBatch, nil).typingUsers(t, room); !equalUsers(got, alice.UserID) {
			t.Fatalf("carol sees %v typing after she stopped", got)
		}
	})
}

func equalUsers(got []string, want ...string) bool { return slices.Equal(got, want) }

// A sync woken only by typing carries the room's unread counts as they
// are, unchanged by the typing and changed at once by a read receipt
// (client-server-api "Receiving notifications").
func TestTypingAPI_TypingOnlySyncsCarryCurrentUnreadCounts(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		k := newCounter(bob, "")
		k.waitFor(t, room, counts(0, 0))
		last := alice.SendText(room, "hello")
		k.waitFor(t, room, counts(1, 0))

		typing := func(on bool) roomCounts {
			t.Helper()
			alice.MustDo("PUT", typingPath(room, alice.UserID), map[string]any{"typing": on, "timeout": 30000}, nil)
			var resp unreadSync
			bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(k.since), nil, &resp)
			k.since = resp.NextBatch
			jr, ok := resp.Rooms.Join[room]
			if !ok || jr.Unread == nil {
				t.Fatalf("a typing-only sync left out the room or its counts: %+v", resp)
			}
			return roomCounts{Room: *jr.Unread}
		}
		if got := typing(true); got.String() != counts(1, 0).String() {
			t.Fatalf("typing-only sync: %v", got)
		}
		bob.MustDo("POST", servertest.Room(room)+"/receipt/m.read/"+url.PathEscape(last), map[string]any{}, nil)
		if got := typing(false); got.String() != counts(0, 0).String() {
			t.Fatalf("typing-only sync after a read receipt: %v", got)
		}
		if got := typing(true); got.String() != counts(0, 0).String() {
			t.Fatalf("the next typing-only sync: %v", got)
		}
	})
}
