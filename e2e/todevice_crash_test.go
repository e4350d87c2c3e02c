package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// toDeviceSync is the part of a /sync answer this test reads.
type toDeviceSync struct {
	NextBatch string `json:"next_batch"`
	ToDevice  struct {
		Events []struct {
			Sender  string `json:"sender"`
			Type    string `json:"type"`
			Content struct {
				N int `json:"n"`
			} `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
}

// drainToDevice syncs from since until a response carries no to-device
// message, counting each message's n, and returns the last token.
func drainToDevice(t *testing.T, c *client, since string, seen map[int]int) string {
	t.Helper()
	for range 100 {
		q := url.Values{"timeout": {"0"}}
		if since != "" {
			q.Set("since", since)
		}
		var resp toDeviceSync
		c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
		for _, e := range resp.ToDevice.Events {
			if e.Type == "org.myelin.crash" {
				seen[e.Content.N]++
			}
		}
		since = resp.NextBatch
		if len(resp.ToDevice.Events) == 0 {
			return since
		}
	}
	t.Fatal("to-device messages kept coming after 100 syncs")
	return ""
}

// SIGKILL during a burst of to-device messages (client-server-api "Send-to-
// Device messaging"): after a restart the recipient's device receives every
// message the server acknowledged exactly once; retrying every transaction
// delivers each attempted message once in all (a transaction ID of
// /sendToDevice is idempotent); and once the device has acknowledged them
// by syncing on, they are gone for good, across another crash.
func TestCrash_ToDeviceMessagesSurviveSIGKILLExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		const (
			workers, perWorker = 4, 40
			killAfter          = 50
		)
		s := startServer(t, be, options{})
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "bob")
		since := drainToDevice(t, bob, "", map[int]int{})

		type send struct {
			txnID            string
			attempted, acked bool
		}
		sends := make([]send, workers*perWorker)
		path := func(i int) string { return "/_matrix/client/v3/sendToDevice/org.myelin.crash/" + sends[i].txnID }
		body := func(i int) any {
			return map[string]any{"messages": map[string]any{bob.userID: map[string]any{bob.deviceID: map[string]any{"n": i}}}}
		}
		var acked atomic.Int64
		enough := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perWorker {
					i := w*perWorker + k
					sends[i].txnID = fmt.Sprintf("td-%d", i)
					sends[i].attempted = true
					x, err := alice.do(ctx, "PUT", path(i), body(i))
					if err != nil {
						return // the server is gone
					}
					if x.Status != http.StatusOK {
						t.Errorf("to-device send %d while the server was up: %s", i, x)
						return
					}
					sends[i].acked = true
					if acked.Add(1) == killAfter {
						once.Do(func() { close(enough) })
					}
				}
			}()
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-enough:
		case <-finished:
			t.Fatalf("the burst ended with %d acknowledged, before the kill at %d", acked.Load(), killAfter)
		case <-ctx.Done():
			t.Fatalf("only %d to-device sends acknowledged within the bound", acked.Load())
		}
		s.kill()
		<-finished
		s.start()

		seen := map[int]int{}
		delivered := drainToDevice(t, bob, since, seen)
		nAcked := 0
		for i, snd := range sends {
			if snd.acked {
				nAcked++
				if seen[i] != 1 {
					t.Errorf("acknowledged to-device message %d arrived %d times, want once", i, seen[i])
				}
			} else if seen[i] > 1 {
				t.Errorf("unanswered to-device message %d arrived %d times", i, seen[i])
			}
		}
		t.Logf("%d acknowledged before the kill, %d delivered after the restart", nAcked, len(seen))

		// Retrying every attempted transaction: each message once in all,
		// counting what arrived before the retries.
		for i, snd := range sends {
			if snd.attempted {
				alice.must(t, "PUT", path(i), body(i), nil)
			}
		}
		after := map[int]int{}
		acknowledged := drainToDevice(t, bob, delivered, after)
		for i, snd := range sends {
			if snd.attempted && seen[i]+after[i] != 1 {
				t.Errorf("after retries, to-device message %d arrived %d times in all, want once", i, seen[i]+after[i])
			}
		}

		// Syncing on from acknowledged deletes them (the device has them);
		// a crash does not bring them back.
		drainToDevice(t, bob, acknowledged, map[int]int{})
		s.kill()
		s.start()
		again := map[int]int{}
		drainToDevice(t, bob, acknowledged, again)
		if len(again) != 0 {
			t.Errorf("%d acknowledged to-device messages came back after a crash", len(again))
		}
	})
}
