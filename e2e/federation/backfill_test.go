package fede2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// backfillBound is how long hs3 gets to fill in history for /messages.
const backfillBound = 10 * time.Second

// A third server joins a room after hs1 and hs2 have talked in it. Live
// traffic reaches it from both (hs2 learns of hs3 from hs1's relay of the
// join), all three agree on the state, and the earlier history, which the
// join did not carry (send_join returns state and auth chain only), shows
// up in hs3's /messages once hs3 backfills it from a server in the room
// (server-server-api, "Backfilling and retrieving missing events"; the
// room's history_visibility is "shared", so the joiner may see it).
func TestFederation_LateJoinerBackfillsHistory(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2, hs3 := c.add("hs1"), c.add("hs2"), c.add("hs3")
	alice, bob, carol := hs1.register(t, "alice"), hs2.register(t, "bob"), hs3.register(t, "carol")

	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "history"})
	bob.join(t, roomID, hs1.name)
	var history []string
	for i := 0; i < 10; i++ {
		b := fmt.Sprintf("history %02d", i)
		if i%2 == 0 {
			alice.sendText(t, roomID, b)
		} else {
			bob.sendText(t, roomID, b)
		}
		history = append(history, b)
	}
	bob.syncUntil(t, "the whole history on hs2", syncBound, func(v *syncView) bool {
		for _, b := range history {
			if !v.hasBody(roomID, b) {
				return false
			}
		}
		return true
	})

	carol.join(t, roomID, hs1.name)

	t.Run("live traffic from both servers", func(t *testing.T) {
		alice.sendText(t, roomID, "live from hs1")
		// hs2 sends to hs3 only once it has hs1's relay of carol's join.
		waitMembership(t, roomID, map[string]string{carol.userID: "join"}, bob)
		bob.sendText(t, roomID, "live from hs2")
		carol.syncUntil(t, "the live messages from hs1 and hs2", syncBound, func(v *syncView) bool {
			return v.hasBody(roomID, "live from hs1") && v.hasBody(roomID, "live from hs2")
		})
		carol.sendText(t, roomID, "live from hs3")
		for _, u := range []*client{alice, bob} {
			u.syncUntil(t, "the live message from hs3", syncBound, func(v *syncView) bool {
				return v.hasBody(roomID, "live from hs3")
			})
		}
		requireSameState(t, roomID, alice, bob, carol)
	})

	t.Run("history through /messages", func(t *testing.T) {
		var got []string
		deadline := time.Now().Add(backfillBound)
		for {
			got = got[:0]
			for _, b := range bodies(carol.messages(t, roomID)) {
				if strings.HasPrefix(b, "history ") {
					got = append(got, b)
				}
			}
			if len(got) == len(history) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if strings.Join(got, ",") != strings.Join(history, ",") {
			t.Errorf("hs3's /messages shows the earlier history as\n%v\nwant\n%v", got, history)
		}
	})

	// Small pages: each page past what hs4 holds backfills a little more,
	// and the pagination tokens carry on into the backfilled history.
	t.Run("history through /messages in small pages", func(t *testing.T) {
		hs4 := c.add("hs4")
		dave := hs4.register(t, "dave")
		dave.join(t, roomID, hs1.name)
		var got []string
		for _, b := range bodies(dave.messagesPaged(t, roomID, 3)) {
			if strings.HasPrefix(b, "history ") {
				got = append(got, b)
			}
		}
		if strings.Join(got, ",") != strings.Join(history, ",") {
			t.Errorf("hs4's /messages in pages of 3 shows the earlier history as\n%v\nwant\n%v", got, history)
		}
		if n := strings.Count(hs4.logLinesContaining("backfill from server failed"), "\n"); n > 0 {
			t.Logf("hs4 logged %d failed backfill attempts", n)
		}
	})
}

// A client paging back with a large limit through history that only
// another server holds gets all of it in one /messages answer, not one
// /backfill batch: the server fetches as many pages as the limit needs,
// bounded in time (client-server-api "GET /messages": limit is "the
// maximum number of events to return"; server-server-api "Backfilling and
// retrieving missing events").
func TestFederation_MessagesBackfillsSeveralPagesForALargeLimit(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "long history"})
	const n = 300
	for i := 0; i < n; i++ {
		alice.sendText(t, roomID, fmt.Sprintf("old %03d", i))
	}
	bob.join(t, roomID, hs1.name)

	var resp struct {
		Chunk []event `json:"chunk"`
	}
	bob.must(t, "GET", roomPath(roomID)+"/messages?dir=b&limit=400", nil, &resp)
	got := 0
	for _, b := range bodies(resp.Chunk) {
		if strings.HasPrefix(b, "old ") {
			got++
		}
	}
	if got != n {
		t.Fatalf("one /messages with limit=400 on hs2 returned %d of the %d messages hs1 holds (%d events in all)", got, n, len(resp.Chunk))
	}
}
