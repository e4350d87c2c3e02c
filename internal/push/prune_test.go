package push

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Read notifications go once they are a month old, unread ones stay: a
// threaded receipt reads only its thread, an unthreaded one every thread
// up to its event. Counts and GET /notifications show the same unread
// notifications before and after (Synapse's rule, see pruneAge).
func TestPruneRead_DeletesReadNotificationsAMonthOld(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		n, e, rc := newNotifier(t, db)
		alice, bob, carol := "@alice:"+benchServer, "@bob:"+benchServer, "@carol:"+benchServer
		room := roomstest.PublicRoom(t, e, alice, bob, carol)
		root := roomstest.Say(t, e, room, alice, "root").EventID()
		reply, err := e.Send(ctx, room, &event.Builder{Type: event.TypeMessage, Sender: alice,
			Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": "in thread",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last := roomstest.Say(t, e, room, alice, "main again").EventID()
		if err := n.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
		inThread := root
		if err := rc.Post(ctx, room, bob, receiptRead, reply.EventID(), &inThread); err != nil {
			t.Fatal(err)
		}
		if err := rc.Post(ctx, room, carol, receiptRead, last, nil); err != nil {
			t.Fatal(err)
		}

		state := func(user string) string {
			t.Helper()
			c, err := n.UnreadCounts(ctx, user, []string{room}, true)
			if err != nil {
				t.Fatal(err)
			}
			items, _, err := n.List(ctx, user, "", 0, "")
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, it := range items {
				listed = append(listed, fmt.Sprintf("%s read=%v", it.EventID, it.Read))
			}
			return fmt.Sprintf("counts %+v listed %v", c[room], listed)
		}
		bobBefore, carolBefore := state(bob), state(carol)

		if got, err := n.PruneRead(ctx, time.Now().Add(pruneAge-time.Hour)); err != nil || got != 0 {
			t.Fatalf("a month not yet passed: deleted %d, %v", got, err)
		}
		if state(bob) != bobBefore || state(carol) != carolBefore {
			t.Fatal("a pass that deleted nothing changed what users see")
		}
		if got, err := n.PruneRead(ctx, time.Now().Add(pruneAge+time.Hour)); err != nil || got != 4 {
			t.Fatalf("deleted %d, %v; want bob's thread reply and carol's three", got, err)
		}
		// Bob still has the root and the last message unread, and their
		// count; carol's read notifications are gone, her count still 0.
		want := fmt.Sprintf("counts {Room:{NotificationCount:2 HighlightCount:0} Threads:map[]} listed [%s read=false %s read=false]", last, root)
		if got := state(bob); got != want {
			t.Fatalf("bob after pruning: %s\nwant %s", got, want)
		}
		if got := state(carol); got != "counts {Room:{NotificationCount:0 HighlightCount:0} Threads:map[]} listed []" {
			t.Fatalf("carol after pruning: %s", got)
		}
		if got, err := n.PruneRead(ctx, time.Now().Add(pruneAge+time.Hour)); err != nil || got != 0 {
			t.Fatalf("a second pass deleted %d, %v", got, err)
		}
	})
}
