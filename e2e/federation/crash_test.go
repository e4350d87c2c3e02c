package fede2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// hs1 is SIGKILLed while its users are sending into a room shared with
// hs2, right after the last acknowledgement. Every message hs1 acknowledged
// must still reach hs2 once hs1 is back, without any further message to
// make hs2 notice a gap: an acknowledged event is durable, and so is its
// way to the other servers in the room (the room commit records it in the
// federation outbox; the sender's queue is written just after, and a start
// queues whatever a crash left in the outbox).
func TestFederation_CrashAfterAcknowledgementLosesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "crash"})
	bob.join(t, roomID, hs1.name)
	alice.sendText(t, roomID, "before the crash")
	bob.syncUntil(t, "the message before the crash", syncBound, func(v *syncView) bool {
		return v.hasBody(roomID, "before the crash")
	})

	const senders, each = 4, 15
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := fmt.Sprintf("crash %d-%02d", s, i)
				x, err := alice.do(context.Background(), "PUT", roomPath(roomID)+"/send/m.room.message/"+newTxnID(), textContent(body))
				if err != nil || x.Status != http.StatusOK {
					return // the crash may cut a send short; only acknowledged ones count
				}
				mu.Lock()
				acked = append(acked, body)
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	hs1.kill()
	t.Logf("hs1 acknowledged %d messages and was SIGKILLed", len(acked))

	hs1.start()
	c.eventually(t, "every message hs1 acknowledged reaches hs2", syncBound, func() string {
		got := map[string]int{}
		for _, b := range bodies(bob.messages(t, roomID)) {
			got[b]++
		}
		var missing, doubled []string
		for _, b := range acked {
			switch got[b] {
			case 0:
				missing = append(missing, b)
			case 1:
			default:
				doubled = append(doubled, b)
			}
		}
		if len(missing)+len(doubled) == 0 {
			return ""
		}
		return fmt.Sprintf("%d of %d missing on hs2 (%s); shown more than once: %s", len(missing), len(acked),
			strings.Join(missing[:min(len(missing), 5)], ", "), strings.Join(doubled, ", "))
	})
	requireSameState(t, roomID, alice, bob)
	// Whether the kill landed between a commit and its queueing is luck;
	// say so when it did.
	if l := hs1.logLinesContaining("had not handed to the federation sender"); l != "" {
		t.Logf("hs1 after the restart: %s", l)
	}
}
