package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type purgeStatus struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// purgeAndWait starts a history purge and polls its status until it has
// finished; it returns the final status.
func purgeAndWait(t *testing.T, admin *servertest.Client, path string, body map[string]any) purgeStatus {
	t.Helper()
	var started struct {
		PurgeID string `json:"purge_id"`
	}
	admin.MustDo("POST", path, body, &started)
	if started.PurgeID == "" {
		t.Fatal("no purge_id")
	}
	for range 1000 {
		var st purgeStatus
		admin.MustDo("GET", adminV1+"/purge_history_status/"+started.PurgeID, nil, &st)
		if st.Status != "active" {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the purge never finished")
	return purgeStatus{}
}

// rowsFor counts the rows of table naming one of the events.
func rowsFor(t *testing.T, s *servertest.Server, table string, eventIDs []string) int {
	t.Helper()
	total := 0
	for _, id := range eventIDs {
		var n int
		if err := s.DB.Read.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE event_id = $1", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// Synapse's Purge History API: events before the point go, but not the
// room's state, not its latest event and, unless delete_local_events,
// not what this server's users sent. The room stays fully usable, and
// /messages ends cleanly where the history now begins.
func TestAdminAPI_PurgeHistory(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.name/", map[string]any{"name": "Old name"}, nil)
		var old []string
		for i := range 5 {
			old = append(old, alice.SendText(room, fmt.Sprintf("old %d", i)))
		}
		var reaction struct {
			EventID string `json:"event_id"`
		}
		bob.MustDo("PUT", servertest.Room(room)+"/send/m.reaction/r1", map[string]any{
			"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": old[1], "key": "👍"}}, &reaction)
		old = append(old, reaction.EventID)
		point := alice.SendText(room, "kept 0")
		alice.SendText(room, "kept 1")
		path := adminV1 + "/purge_history/" + esc(room)

		// By default this server's users' events stay: nothing goes here.
		if st := purgeAndWait(t, admin, path+"/"+url.PathEscape(point), map[string]any{}); st.Status != "complete" {
			t.Fatalf("purge keeping local events: %+v", st)
		}
		if got := messageBodies(t, bob, room); !slices.Contains(got, "old 0") {
			t.Fatalf("a local event was purged without delete_local_events: %v", got)
		}
		if rowsFor(t, s, "search_events", old[:5]) != 5 {
			t.Fatal("the search index lost local events that were kept")
		}

		st := purgeAndWait(t, admin, path, map[string]any{"purge_up_to_event_id": point, "delete_local_events": true})
		if st.Status != "complete" {
			t.Fatalf("purge: %+v", st)
		}
		if got := messageBodies(t, bob, room); !slices.Equal(got, []string{"kept 1", "kept 0"}) {
			t.Errorf("/messages after the purge: %v", got)
		}
		for _, id := range old {
			status, raw := bob.Do("GET", servertest.Room(room)+"/event/"+url.PathEscape(id), nil, nil)
			expectStatus(t, "a purged event", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		}
		for _, table := range []string{"search_events", "event_relations"} {
			if n := rowsFor(t, s, table, old); n != 0 {
				t.Errorf("%d rows of purged events left in %s", n, table)
			}
		}
		// State stays: the name, the members, and pagination runs back to
		// the create event and stops there.
		var name map[string]string
		bob.MustDo("GET", servertest.Room(room)+"/state/m.room.name/", nil, &name)
		if name["name"] != "Old name" {
			t.Errorf("room name after the purge: %v", name)
		}
		var page struct {
			Chunk []ev   `json:"chunk"`
			End   string `json:"end"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=100", nil, &page)
		if len(page.Chunk) == 0 || page.Chunk[len(page.Chunk)-1].Type != "m.room.create" {
			t.Errorf("/messages does not run back to the create event: %+v", page.Chunk)
		}
		if page.End != "" {
			next := struct {
				Chunk []ev `json:"chunk"`
			}{}
			bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=100&from="+url.QueryEscape(page.End), nil, &next)
			if len(next.Chunk) != 0 {
				t.Errorf("/messages goes on past the create event: %+v", next.Chunk)
			}
		}

		// The room works on: sending, /sync, joining.
		first := syncEphemeral(t, bob, "", nil)
		alice.SendText(room, "after the purge")
		var inc syncResp
		bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(first.NextBatch), nil, &inc)
		if got := bodies(decodeEvents(t, inc.Rooms.Join[room].Timeline.Events)); !slices.Equal(got, []string{"after the purge"}) {
			t.Errorf("bob's incremental sync after the purge: %v", got)
		}
		carol := s.Register("carol")
		carol.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
		carol.SendText(room, "hello from carol")

		// By time, with every event before it: the latest event stays.
		st = purgeAndWait(t, admin, path, map[string]any{"purge_up_to_ts": time.Now().Add(time.Hour).UnixMilli(), "delete_local_events": true})
		if st.Status != "complete" {
			t.Fatalf("purge by time: %+v", st)
		}
		if got := messageBodies(t, bob, room); !slices.Equal(got, []string{"hello from carol"}) {
			t.Errorf("/messages after purging everything: %v", got)
		}
		alice.SendText(room, "still works")
		if got := messageBodies(t, carol, room); !slices.Equal(got, []string{"still works", "hello from carol"}) {
			t.Errorf("/messages after sending again: %v", got)
		}

		// Errors as Synapse answers them.
		other := alice.CreateRoom(map[string]any{})
		otherEvent := alice.SendText(other, "elsewhere")
		for _, c := range []struct {
			what   string
			path   string
			body   map[string]any
			status int
			code   string
		}{
			{"no point", path, map[string]any{}, http.StatusBadRequest, "M_BAD_JSON"},
			{"ts not an int", path, map[string]any{"purge_up_to_ts": "soon"}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"no event before ts", path, map[string]any{"purge_up_to_ts": 1}, http.StatusNotFound, "M_NOT_FOUND"},
			{"unknown room", adminV1 + "/purge_history/" + esc("!nope:localhost"), map[string]any{"purge_up_to_ts": 1}, http.StatusNotFound, "M_NOT_FOUND"},
			{"unknown event", path, map[string]any{"purge_up_to_event_id": "$nope"}, http.StatusNotFound, "M_NOT_FOUND"},
			{"event of another room", path + "/" + url.PathEscape(otherEvent), nil, http.StatusBadRequest, ""},
		} {
			status, raw := admin.Do("POST", c.path, c.body, nil)
			expectStatus(t, c.what, status, raw, c.status, c.code)
		}
		status, raw := admin.Do("GET", adminV1+"/purge_history_status/nope", nil, nil)
		expectStatus(t, "unknown purge ID", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = alice.Do("POST", path, map[string]any{"purge_up_to_ts": 1}, nil)
		expectStatus(t, "a non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		status, raw = alice.Do("GET", adminV1+"/purge_history_status/nope", nil, nil)
		expectStatus(t, "a non-admin's status", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}
