package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashSend is one send of the burst and what became of it.
type crashSend struct {
	dev         *client // the device sending it
	txnID, body string
	attempted   bool   // the request was sent (or its sending began)
	acked       bool   // the server answered 200 with an event ID
	eventID     string // when acked
	failure     string // a non-200 answer while the server was up
	lost        string // the transport error when no answer came
}

// copies is how many identical requests make up one send: the copies go
// out at once, as from a client that retries after a timeout while its
// first request is still queued behind a busy room.
const copies = 3

// sendCopies sends copies of one PUT at once and sorts the answers: the
// event IDs of the 200s, a description of any other answer, and the
// transport error when no copy got an answer.
func sendCopies(ctx context.Context, c *client, path string, body any) (ids []string, failure, lost string) {
	type answer struct {
		id, failure string
		err         error
	}
	answers := make([]answer, copies)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := c.do(ctx, "PUT", path, body)
			switch {
			case err != nil:
				answers[i].err = err
			case x.Status != http.StatusOK:
				answers[i].failure = x.String()
			default:
				var resp struct {
					EventID string `json:"event_id"`
				}
				if json.Unmarshal(x.RespBody, &resp) != nil || resp.EventID == "" {
					answers[i].failure = x.String() + "\n  (200 without an event_id)"
				}
				answers[i].id = resp.EventID
			}
		}()
	}
	wg.Wait()
	for _, a := range answers {
		switch {
		case a.err != nil:
			lost = a.err.Error()
		case a.failure != "":
			failure = a.failure
		default:
			ids = append(ids, a.id)
		}
	}
	if len(ids) > 0 || failure != "" {
		lost = ""
	}
	for _, id := range ids {
		if id != ids[0] {
			failure = fmt.Sprintf("copies of one transaction answered with different events: %v", ids)
		}
	}
	return ids, failure, lost
}

// SIGKILL during a burst of concurrent sends (docs/testing.md, "Crash and
// restart"): after a restart every send the server acknowledged with 200
// is in the room exactly once, retrying any transaction ID returns the
// original event ID and creates nothing new (client-server-api,
// "Transaction identifiers"), and a since token from before the burst
// still works. Every send goes out as several identical copies at once,
// and two devices of one user use the same transaction IDs: each (user,
// device, transaction) makes exactly one event, and all its copies are
// answered with it.
func TestCrash_AcknowledgedSendsSurviveSIGKILLExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		const (
			workers   = 4
			perWorker = 50
			// killAfter acknowledged sends, the server is killed: well into
			// the burst, with sends in flight on every worker.
			killAfter = 60
		)
		s := startServer(t, be, options{})
		alice := s.newUser(t, "alice")
		// A second device of alice's: workers 2k and 2k+1 send with the
		// same transaction IDs, one from each device.
		devices := []*client{alice, s.login(t, "alice", password)}
		roomID := alice.createRoom(t, "crash")
		// Bob is in the room: every message notifies him once.
		bob := s.newUser(t, "bob")
		alice.must(t, "POST", roomPath(roomID)+"/invite", map[string]any{"user_id": bob.userID}, nil)
		bob.must(t, "POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, nil)
		since := alice.sync(t, "", 10).NextBatch

		sends := make([][]crashSend, workers)
		var acked atomic.Int64
		enough := make(chan struct{})
		var enoughOnce sync.Once
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		for w := range workers {
			sends[w] = make([]crashSend, perWorker)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range sends[w] {
					snd := &sends[w][i]
					snd.dev = devices[w%2]
					snd.txnID = fmt.Sprintf("crash-%d-%d", w/2, i)
					snd.body = fmt.Sprintf("crash burst worker %d message %d", w, i)
					snd.attempted = true
					ids, failure, lost := sendCopies(ctx, snd.dev, sendPath(roomID, snd.txnID), textContent(snd.body))
					if len(ids) > 0 && failure == "" {
						snd.acked, snd.eventID = true, ids[0]
						if acked.Add(1) == killAfter {
							enoughOnce.Do(func() { close(enough) })
						}
					}
					snd.failure = failure
					if lost != "" {
						// The server is gone (or the bound passed): stop.
						snd.lost = lost
						return
					}
				}
			}()
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()

		select {
		case <-enough:
		case <-finished:
			t.Fatalf("the burst ended with %d sends acknowledged, before the kill at %d; failures:\n%s",
				acked.Load(), killAfter, describeFailures(sends))
		case <-ctx.Done():
			t.Fatalf("only %d of %d sends acknowledged within the bound", acked.Load(), killAfter)
		}
		s.kill()
		<-finished // every request now fails at once

		var nAcked, nLost, nUnsent int
		for _, ws := range sends {
			for _, snd := range ws {
				switch {
				case snd.acked:
					nAcked++
				case !snd.attempted:
					nUnsent++
				case snd.lost != "":
					nLost++
				}
			}
		}
		t.Logf("burst: %d acknowledged, %d without an answer when the server died, %d never sent", nAcked, nLost, nUnsent)
		if f := describeFailures(sends); f != "" {
			t.Errorf("sends answered with an error while the server was up:\n%s", f)
		}

		s.start()

		// Every acknowledged event exactly once; no body twice.
		checkBurst(t, alice.roomMessages(t, roomID), sends, false)

		// Retrying every transaction that was attempted: acknowledged ones
		// return their event ID; unanswered ones return whatever event
		// the server made of them, new or old.
		for _, ws := range sends {
			for _, snd := range ws {
				if !snd.attempted {
					continue
				}
				ids, failure, lost := sendCopies(t.Context(), snd.dev, sendPath(roomID, snd.txnID), textContent(snd.body))
				switch {
				case failure != "" || lost != "":
					t.Errorf("retrying txn %s of device %s after the crash: %s%s", snd.txnID, snd.dev.deviceID, failure, lost)
				case snd.acked && ids[0] != snd.eventID:
					t.Errorf("retrying acknowledged txn %s of device %s after the crash answered %s, want the original event_id %s",
						snd.txnID, snd.dev.deviceID, ids[0], snd.eventID)
				}
			}
		}
		// Now every attempted send is in the room exactly once.
		checkBurst(t, alice.roomMessages(t, roomID), sends, true)

		// A since token from before the burst still works after the crash,
		// without repeating an event.
		inc := alice.sync(t, since, 500)
		seen := map[string]bool{}
		for _, e := range inc.timeline(roomID) {
			if seen[e.EventID] {
				t.Errorf("/sync since a pre-crash token repeats event %s", e.EventID)
			}
			seen[e.EventID] = true
			if e.Type != "m.room.message" || !strings.HasPrefix(e.body(), "crash burst ") {
				t.Errorf("/sync since a pre-crash token returns %s event %s (%q), which is older than the token",
					e.Type, e.EventID, e.body())
			}
		}
		if len(seen) == 0 {
			t.Errorf("/sync since a pre-crash token returns no events for the room, want the burst")
		}

		// Each message's notification commits with it: after the crash
		// and the retries bob's unread count is exactly the number of
		// messages, none lost with the process, none counted twice
		// (client-server-api "Receiving notifications").
		msgs := messageIDs(alice.roomMessages(t, roomID))
		if got := bob.notificationCount(t, roomID); got != len(msgs) {
			t.Errorf("bob's notification_count after the crash is %d, want one per message: %d", got, len(msgs))
		}
	})
}

// notificationCount is a room's unread_notifications.notification_count
// in an initial /sync.
func (c *client) notificationCount(t testing.TB, roomID string) int {
	t.Helper()
	var resp struct {
		Rooms struct {
			Join map[string]struct {
				Unread struct {
					Count int `json:"notification_count"`
				} `json:"unread_notifications"`
			} `json:"join"`
		} `json:"rooms"`
	}
	c.must(t, "GET", syncPath("", 0, 1), nil, &resp)
	jr, ok := resp.Rooms.Join[roomID]
	if !ok {
		t.Fatalf("%s is not in %s's initial sync", roomID, c.userID)
	}
	return jr.Unread.Count
}

// checkBurst checks the room's messages against the burst: every
// acknowledged event exactly once with its body, no body twice, and with
// all=true every attempted send exactly once and nothing else.
func checkBurst(t *testing.T, events []event, sends [][]crashSend, all bool) {
	t.Helper()
	byID := map[string][]event{}
	byBody := map[string]int{}
	nMessages := 0
	for _, e := range events {
		byID[e.EventID] = append(byID[e.EventID], e)
		if e.Type == "m.room.message" {
			byBody[e.body()]++
			nMessages++
		}
	}
	stage := "after the restart"
	if all {
		stage = "after retrying every transaction"
	}
	attempted := 0
	for _, ws := range sends {
		for _, snd := range ws {
			if snd.attempted {
				attempted++
			}
			if snd.acked {
				switch got := byID[snd.eventID]; {
				case len(got) == 0:
					t.Errorf("%s: acknowledged event %s (txn %s) is missing from /messages", stage, snd.eventID, snd.txnID)
				case len(got) > 1:
					t.Errorf("%s: acknowledged event %s appears %d times in /messages", stage, snd.eventID, len(got))
				case got[0].body() != snd.body:
					t.Errorf("%s: event %s has body %q, want %q", stage, snd.eventID, got[0].body(), snd.body)
				}
			}
			n := byBody[snd.body]
			if n > 1 {
				t.Errorf("%s: message %q (txn %s) is in the room %d times", stage, snd.body, snd.txnID, n)
			}
			if all && snd.attempted && n != 1 {
				t.Errorf("%s: message %q (txn %s) is in the room %d times, want once", stage, snd.body, snd.txnID, n)
			}
		}
	}
	if all && nMessages != attempted {
		t.Errorf("%s: the room holds %d messages, want exactly the %d attempted sends", stage, nMessages, attempted)
	}
}

// describeFailures lists the non-200 answers of a burst.
func describeFailures(sends [][]crashSend) string {
	var b strings.Builder
	n := 0
	for _, ws := range sends {
		for _, snd := range ws {
			if snd.failure == "" {
				continue
			}
			if n++; n <= 5 {
				fmt.Fprintf(&b, "txn %s of device %s: %s\n", snd.txnID, snd.dev.deviceID, snd.failure)
			}
		}
	}
	if n > 5 {
		fmt.Fprintf(&b, "... and %d more\n", n-5)
	}
	return b.String()
}
