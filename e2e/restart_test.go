package e2e

import (
	"fmt"
	"slices"
	"testing"
)

// Messages sent before a graceful restart (SIGTERM, exit 0, start again on
// the same directory) are in /messages and in an initial /sync afterwards;
// the access token still works; and a since token handed out before the
// restart still works for an incremental /sync, which returns only the
// events sent after it (client-server-api, GET /sync: since).
func TestRestart_HistoryAndOldSinceTokenSurviveGracefulRestart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, options{})
		alice := s.newUser(t, "alice")
		roomID := alice.createRoom(t, "restart")

		var before []string
		for i := range 5 {
			before = append(before, alice.sendText(t, roomID, fmt.Sprintf("before restart %d", i)))
		}
		since := alice.sync(t, "", 50).NextBatch

		s.restart()

		// /messages, all the way back: the five messages, in order.
		got := messageIDs(alice.roomMessages(t, roomID))
		if !slices.Equal(got, before) {
			t.Errorf("/messages after restart has messages %v, want %v", got, before)
		}

		// Initial sync: the room's timeline ends with the five messages.
		initial := alice.sync(t, "", 50)
		if _, ok := initial.Rooms.Join[roomID]; !ok {
			t.Fatalf("initial /sync after restart does not list the room %s under rooms.join", roomID)
		}
		if got := messageIDs(initial.timeline(roomID)); !slices.Equal(got, before) {
			t.Errorf("initial /sync after restart: timeline messages %v, want %v", got, before)
		}

		// Incremental sync from the old token: only what came after it.
		var after []string
		for i := range 2 {
			after = append(after, alice.sendText(t, roomID, fmt.Sprintf("after restart %d", i)))
		}
		inc := alice.sync(t, since, 50)
		var ids []string
		for _, e := range inc.timeline(roomID) {
			ids = append(ids, e.EventID)
		}
		if !slices.Equal(ids, after) {
			t.Errorf("/sync since a pre-restart token: timeline %v, want exactly the messages sent after it %v", ids, after)
		}
		if inc.Rooms.Join[roomID].Timeline.Limited {
			t.Errorf("/sync since a pre-restart token: timeline is limited although only %d events are new", len(after))
		}
	})
}
