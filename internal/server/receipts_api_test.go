package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

func receiptPath(roomID, typ, eventID string) string {
	return servertest.Room(roomID) + "/receipt/" + url.PathEscape(typ) + "/" + url.PathEscape(eventID)
}

// receiptContent is an m.receipt event's content.
type receiptContent map[string]map[string]map[string]struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id"`
}

// receipts merges the room's m.receipt events of one sync.
func (s ephemeralSync) receipts(t *testing.T, roomID string) receiptContent {
	t.Helper()
	out := receiptContent{}
	for _, e := range s.ephemeralOf(roomID, "m.receipt") {
		var c receiptContent
		if err := json.Unmarshal(e.Content, &c); err != nil {
			t.Fatal(err)
		}
		for ev, types := range c {
			if out[ev] == nil {
				out[ev] = types
				continue
			}
			for typ, users := range types {
				out[ev][typ] = users
			}
		}
	}
	return out
}

// has reports whether userID has a receipt of typ on eventID.
func (c receiptContent) has(eventID, typ, userID string) bool {
	_, ok := c[eventID][typ][userID]
	return ok
}

// client-server-api "Receipts": a member's m.read receipt reaches the other
// members as a delta on their next sync and as the room's latest receipts
// on an initial sync; a receipt for an earlier event changes nothing.
func TestReceiptsAPI_ReadReceiptsOnlyMoveForward(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		e1, e2 := alice.SendText(room, "one"), alice.SendText(room, "two")
		tok := syncEphemeral(t, alice, "", nil).NextBatch

		bob.MustDo("POST", receiptPath(room, "m.read", e2), map[string]any{}, nil)
		next := syncEphemeral(t, alice, tok, nil)
		got := next.receipts(t, room)
		if !got.has(e2, "m.read", bob.UserID) || got[e2]["m.read"][bob.UserID].TS == 0 {
			t.Fatalf("alice's sync after bob's receipt: %+v", got)
		}

		// Backwards: accepted, but nothing changes.
		bob.MustDo("POST", receiptPath(room, "m.read", e1), map[string]any{}, nil)
		if got := syncEphemeral(t, alice, next.NextBatch, nil).receipts(t, room); len(got) != 0 {
			t.Errorf("a receipt moving backwards was delivered: %+v", got)
		}
		initial := syncEphemeral(t, alice, "", nil).receipts(t, room)
		if !initial.has(e2, "m.read", bob.UserID) || initial.has(e1, "m.read", bob.UserID) {
			t.Errorf("initial sync after the backwards receipt: %+v, want bob's at %s only", initial, e2)
		}
	})
}

// client-server-api "Private read receipts": "Servers MUST NOT send the
// m.read.private receipt to any other user than the one which originally
// sent it."
func TestReceiptsAPI_PrivateReceiptsNeverLeak(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		ev := alice.SendText(room, "secretly read")
		aliceTok, bobTok := syncEphemeral(t, alice, "", nil).NextBatch, syncEphemeral(t, bob, "", nil).NextBatch
		bob.MustDo("POST", receiptPath(room, "m.read.private", ev), map[string]any{}, nil)
		bob.MustDo("POST", servertest.Room(room)+"/read_markers", map[string]any{"m.read.private": ev}, nil)

		if got := syncEphemeral(t, bob, bobTok, nil).receipts(t, room); !got.has(ev, "m.read.private", bob.UserID) {
			t.Errorf("bob does not see his own private receipt: %+v", got)
		}
		if got := syncEphemeral(t, alice, aliceTok, nil).receipts(t, room); len(got) != 0 {
			t.Errorf("alice's incremental sync shows bob's private receipt: %+v", got)
		}
		if got := syncEphemeral(t, alice, "", nil).receipts(t, room); len(got) != 0 {
			t.Errorf("alice's initial sync shows bob's private receipt: %+v", got)
		}
	})
}

// client-server-api "Threaded read receipts": thread_id is main or a thread
// root, and the event must be in that thread.
func TestReceiptsAPI_ThreadedReceipts(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		root := alice.SendText(room, "thread root")
		var reply struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", servertest.Room(room)+"/send/m.room.message/threadreply", map[string]any{
			"msgtype": "m.text", "body": "in the thread",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}, &reply)

		bob.MustDo("POST", receiptPath(room, "m.read", reply.EventID), map[string]any{"thread_id": root}, nil)
		bob.MustDo("POST", receiptPath(room, "m.read", root), map[string]any{"thread_id": "main"}, nil)
		got := syncEphemeral(t, alice, "", nil).receipts(t, room)
		if r, ok := got[reply.EventID]["m.read"][bob.UserID]; !ok || r.ThreadID != root {
			t.Errorf("threaded receipt: %+v", got)
		}
		if r, ok := got[root]["m.read"][bob.UserID]; !ok || r.ThreadID != "main" {
			t.Errorf("main-timeline receipt: %+v", got)
		}

		for _, tc := range []struct {
			name string
			typ  string
			ev   string
			body any
		}{
			{"thread event under main", "m.read", reply.EventID, map[string]any{"thread_id": "main"}},
			{"main event under a thread", "m.read", root, map[string]any{"thread_id": reply.EventID}},
			{"empty thread_id", "m.read", root, map[string]any{"thread_id": ""}},
			{"thread_id not a string", "m.read", root, map[string]any{"thread_id": 5}},
			{"thread_id on m.fully_read", "m.fully_read", root, map[string]any{"thread_id": "main"}},
		} {
			status, raw := bob.Do("POST", receiptPath(room, tc.typ, tc.ev), tc.body, nil)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("%s: %d %s, want 400 M_INVALID_PARAM", tc.name, status, raw)
			}
		}
	})
}

// client-server-api "Fully read markers": the marker is room account data
// m.fully_read, set through /receipt/m.fully_read or /read_markers, never
// directly, and (as in Synapse) only moving forward.
func TestReceiptsAPI_FullyReadMarker(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		e1, e2 := alice.SendText(room, "one"), alice.SendText(room, "two")
		adPath := "/_matrix/client/v3/user/" + url.PathEscape(bob.UserID) + "/rooms/" + url.PathEscape(room) + "/account_data/m.fully_read"
		marker := func() string {
			var c struct {
				EventID string `json:"event_id"`
			}
			bob.MustDo("GET", adPath, nil, &c)
			return c.EventID
		}
		tok := syncEphemeral(t, bob, "", nil).NextBatch
		bob.MustDo("POST", receiptPath(room, "m.fully_read", e1), map[string]any{}, nil)
		if m := marker(); m != e1 {
			t.Fatalf("marker %q, want %s", m, e1)
		}
		next := syncEphemeral(t, bob, tok, nil)
		found := false
		for _, e := range next.Rooms.Join[room].AccountData.Events {
			found = found || (e.Type == "m.fully_read" && string(e.Content) == `{"event_id":"`+e1+`"}`)
		}
		if !found {
			t.Errorf("m.fully_read not in the room's account data in /sync: %+v", next.Rooms.Join[room].AccountData)
		}
		if got := next.receipts(t, room); len(got) != 0 {
			t.Errorf("m.fully_read appears under m.receipt: %+v", got)
		}

		bob.MustDo("POST", servertest.Room(room)+"/read_markers", map[string]any{"m.fully_read": e2, "m.read": e2}, nil)
		if m := marker(); m != e2 {
			t.Errorf("after read_markers: marker %q, want %s", m, e2)
		}
		if got := syncEphemeral(t, alice, "", nil).receipts(t, room); !got.has(e2, "m.read", bob.UserID) {
			t.Errorf("read_markers' m.read not shown: %+v", got)
		}
		bob.MustDo("POST", servertest.Room(room)+"/read_markers", map[string]any{"m.fully_read": e1}, nil)
		if m := marker(); m != e2 {
			t.Errorf("the marker moved back to %q", m)
		}
		status, raw := bob.Do("PUT", adPath, map[string]any{"event_id": e1}, nil)
		if status != http.StatusBadRequest {
			t.Errorf("setting m.fully_read directly: %d %s", status, raw)
		}
	})
}

func TestReceiptsAPI_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		room, other := sharedRoom(t, alice, bob), sharedRoom(t, alice)
		ev, elsewhere := alice.SendText(room, "hello"), alice.SendText(other, "elsewhere")
		for _, tc := range []struct {
			name    string
			c       *servertest.Client
			method  string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"unknown receipt type", bob, "POST", receiptPath(room, "m.seen", ev), map[string]any{}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"unknown event", bob, "POST", receiptPath(room, "m.read", "$nope"), map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"event of another room", bob, "POST", receiptPath(room, "m.read", elsewhere), map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"not a member", eve, "POST", receiptPath(room, "m.read", ev), map[string]any{}, http.StatusForbidden, "M_FORBIDDEN"},
			{"receipt body not JSON", bob, "POST", receiptPath(room, "m.read", ev), "nope", http.StatusBadRequest, "M_NOT_JSON"},
			{"read_markers not a member", eve, "POST", servertest.Room(room) + "/read_markers", map[string]any{"m.read": ev}, http.StatusForbidden, "M_FORBIDDEN"},
			{"read_markers wrong type", bob, "POST", servertest.Room(room) + "/read_markers", map[string]any{"m.read": 5}, http.StatusBadRequest, "M_BAD_JSON"},
			{"read_markers unknown event", bob, "POST", servertest.Room(room) + "/read_markers", map[string]any{"m.fully_read": "$nope"}, http.StatusNotFound, "M_NOT_FOUND"},
		} {
			status, raw := tc.c.Do(tc.method, tc.path, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.errcode)
			}
		}
		// A receipt without a body is taken as {} (older clients send none).
		if status, raw := bob.Do("POST", receiptPath(room, "m.read", ev), nil, nil); status != http.StatusOK {
			t.Errorf("receipt without a body: %d %s", status, raw)
		}
	})
}

// client-server-api "Ignoring Users" and "Filtering": ignored users'
// receipts are hidden, and the ephemeral filter applies.
func TestReceiptsAPI_IgnoredUsersAndFilters(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		ev := alice.SendText(room, "read me")
		bob.MustDo("POST", receiptPath(room, "m.read", ev), map[string]any{}, nil)
		carol.MustDo("POST", receiptPath(room, "m.read", ev), map[string]any{}, nil)
		alice.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(alice.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{bob.UserID: map[string]any{}}}, nil)
		got := syncEphemeral(t, alice, "", nil).receipts(t, room)
		if got.has(ev, "m.read", bob.UserID) || !got.has(ev, "m.read", carol.UserID) {
			t.Errorf("alice, who ignores bob, sees %+v", got)
		}
		filter := url.Values{"filter": {`{"room":{"ephemeral":{"types":["m.typing"]}}}`}}
		if got := syncEphemeral(t, alice, "", filter).receipts(t, room); len(got) != 0 {
			t.Errorf("types [m.typing] still shows receipts: %+v", got)
		}
		filter = url.Values{"filter": {`{"room":{"ephemeral":{"limit":0}}}`}}
		if got := syncEphemeral(t, alice, "", filter).receipts(t, room); len(got) != 0 {
			t.Errorf("limit 0 still shows receipts: %+v", got)
		}
	})
}
