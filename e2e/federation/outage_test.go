package fede2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// retryBound is how long the outage test lets hs1's sender find hs2 again
// on its own before hs2 speaks first. The sender's backoff doubles from
// 2 s, so after an outage of a few seconds its next retry falls well
// inside this.
const retryBound = 40 * time.Second

// hs2 is stopped with SIGTERM while hs1 sends 100 messages into a room
// both are in. When hs2 is back, every message reaches it, once and in the
// order sent, and the last one shows in bob's incremental /sync from before
// the outage. hs1's sender keeps the backlog and retries with backoff;
// a backlog this small (below the sender's catch-up threshold of 1000
// PDUs or an hour) is sent whole, so hs2 needs no get_missing_events here
// (server-server-api, "Backfilling and retrieving missing events"), though
// it may use it.
func TestFederation_ServerDownCatchesUpAfterRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "outage"})
	bob.join(t, roomID, hs1.name)
	alice.sendText(t, roomID, "before the outage")
	bob.syncUntil(t, "the message before the outage", syncBound, func(v *syncView) bool {
		return v.hasBody(roomID, "before the outage")
	})

	const n, stopAfter = 100, 10
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("outage %03d", i)
	}
	acked := make(chan int, n)
	sendErr := make(chan error, 1)
	go func() {
		defer close(acked)
		for i, body := range want {
			x, err := alice.do(context.Background(), "PUT", roomPath(roomID)+"/send/m.room.message/"+newTxnID(), textContent(body))
			if err == nil && x.Status != http.StatusOK {
				err = fmt.Errorf("%s", x)
			}
			if err != nil {
				sendErr <- fmt.Errorf("sending %q: %w", body, err)
				return
			}
			acked <- i
		}
	}()
	for i := range acked {
		if i == stopAfter-1 {
			hs2.stop()
			t.Logf("hs2 stopped after hs1 acknowledged %d messages", stopAfter)
		}
	}
	select {
	case err := <-sendErr:
		t.Fatal(err)
	default:
	}
	if hs2.running() {
		t.Fatal("hs2 was never stopped")
	}

	// Keep hs2 down until hs1 has failed to reach it twice, so that the
	// catch-up below follows a growing backoff rather than a lucky first
	// retry. The log is the only outside sign of a failed attempt; if its
	// wording changes, the test goes on after the bound.
	failures := func() int {
		return strings.Count(hs1.logLinesContaining("destination="+hs2.name), "will retry")
	}
	for deadline := time.Now().Add(retryBound); failures() < 2 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("hs1 logged %d failed attempts to reach hs2 before it restarted", failures())

	hs2.start()
	missing := func() []string {
		got := map[string]bool{}
		for _, b := range bodies(bob.messages(t, roomID)) {
			got[b] = true
		}
		var out []string
		for _, b := range want {
			if !got[b] {
				out = append(out, b)
			}
		}
		return out
	}
	describe := func(m []string) string {
		if len(m) > 10 {
			return fmt.Sprintf("%d of %d messages missing on hs2, first: %s", len(m), n, strings.Join(m[:10], ", "))
		}
		return fmt.Sprintf("missing on hs2: %s", strings.Join(m, ", "))
	}

	// First hs1 alone: its sender's retry has to find hs2.
	delivered := false
	deadline := time.Now().Add(retryBound)
	for !delivered && time.Now().Before(deadline) {
		delivered = len(missing()) == 0
		if !delivered {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !delivered {
		// Then hs2 speaks: receiving from a destination marks it alive
		// on hs1 (internal/server.buildFederation's OnOrigin).
		t.Logf("hs1's sender had not caught hs2 up %v after the restart (%s); bob now sends a message, which tells hs1 that hs2 is back", retryBound, describe(missing()))
		bob.sendText(t, roomID, "back online")
		c.eventually(t, "all 100 messages sent during the outage reach hs2", syncBound, func() string {
			if m := missing(); len(m) > 0 {
				return describe(m)
			}
			return ""
		})
	}

	// Sent in one linear chain, so hs2 orders them as hs1 does.
	var got []string
	for _, b := range bodies(bob.messages(t, roomID)) {
		if strings.HasPrefix(b, "outage ") {
			got = append(got, b)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("hs2's /messages lists the outage messages as\n%v\nwant each once, in order", got)
	}
	bob.syncUntil(t, "the last outage message in an incremental /sync from before the outage", syncBound, func(v *syncView) bool {
		return v.hasBody(roomID, want[n-1])
	})
	requireSameState(t, roomID, alice, bob)
}

// While hs2 is down, alice changes the room's topic several times in a
// row. hs1's sender then delivers the backlog in one transaction, a chain
// of state events each following the last, and hs2 must accept them all
// and end with the same state as hs1. (No conflict here: a plain linear
// chain of state events.)
func TestFederation_StateChangeBacklogAfterRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "state backlog"})
	bob.join(t, roomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)

	hs2.stop()
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, alice.setState(t, roomID, "m.room.topic", "", map[string]any{"topic": fmt.Sprintf("topic %d", i)}))
	}
	hs2.start()

	c.eventually(t, "every topic change reaches hs2", syncBound, func() string {
		var missing []string
		for _, id := range ids {
			if !bob.hasEvent(t, roomID, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return "hs2 lacks " + strings.Join(missing, ", ")
		}
		return ""
	})
	st := requireSameState(t, roomID, alice, bob)
	if got := st[stateKey{"m.room.topic", ""}].EventID; got != ids[len(ids)-1] {
		t.Errorf("the topic is %s, want the last change %s", got, ids[len(ids)-1])
	}
}
