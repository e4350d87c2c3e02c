package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
	"github.com/myelin-chat/myelin/internal/appservice/txnsender/txntest"
)

// registration is an appservice registration file for the e2e servers.
type registration struct {
	url, asToken, hsToken, senderLocalpart string
	exclusive                              bool
}

// write puts the registration in a file of its own and returns the
// configuration line that lists it.
func (r registration) write(t *testing.T) string {
	t.Helper()
	body := fmt.Sprintf(`id: irc
url: %s
as_token: %s
hs_token: %s
sender_localpart: %s
namespaces:
  users: [{exclusive: %t, regex: "@irc_.*:localhost"}]
  aliases: []
  rooms: []
rate_limited: false
receive_ephemeral: true
de.sorunome.msc2409.push_ephemeral: true
`, harness.YAMLString(r.url), harness.YAMLString(r.asToken), harness.YAMLString(r.hsToken),
		harness.YAMLString(r.senderLocalpart), r.exclusive)
	path := filepath.Join(t.TempDir(), "irc-registration.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return "app_service_config_files: [" + harness.YAMLString(path) + "]\n"
}

// application-service-api "Pushing events": the server is SIGKILLed while
// transactions wait for an appservice that is down, and during a burst of
// sends; after the restart every acknowledged event reaches the appservice
// exactly once (the test appservice, like any, recognises a retried
// transaction ID and counts its events once), and those it accepted before
// the crash are not sent again.
func TestCrash_AppserviceTransactionsSurviveSIGKILLExactlyOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		a := txntest.New(t)
		reg := registration{url: a.URL(), asToken: "as-token-crash", hsToken: a.HSToken, senderLocalpart: "ircbot"}
		s := startServer(t, be, options{extraYAML: reg.write(t)})
		alice, bob := s.newUser(t, "alice"), s.newUser(t, "irc_bob")
		roomID := alice.createRoom(t, "bridged")
		alice.must(t, "POST", roomPath(roomID)+"/invite", map[string]any{"user_id": bob.userID}, nil)
		bob.must(t, "POST", "/_matrix/client/v3/join/"+roomID, map[string]any{}, nil)

		var acked []string
		for i := range 20 {
			acked = append(acked, alice.sendText(t, roomID, fmt.Sprint("delivered before the crash ", i)))
		}
		a.WaitEvent(t, acked[len(acked)-1])

		// The appservice goes down: what follows waits in the queue.
		a.SetDown(true)
		for i := range 30 {
			acked = append(acked, alice.sendText(t, roomID, fmt.Sprint("queued ", i)))
		}
		tried := a.AttemptsSeen()
		txntest.Eventually(t, "the server retries the appservice", func() bool { return a.AttemptsSeen() > tried })

		// A burst of sends, killed in the middle.
		var mu sync.Mutex
		var n atomic.Int64
		enough := make(chan struct{})
		var once sync.Once
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					var resp struct {
						EventID string `json:"event_id"`
					}
					x, err := alice.do(ctx, "PUT", sendPath(roomID, fmt.Sprintf("burst-%d-%d", w, i)), textContent("burst"))
					if err != nil || x.Status != 200 || json.Unmarshal(x.RespBody, &resp) != nil || resp.EventID == "" {
						return
					}
					mu.Lock()
					acked = append(acked, resp.EventID)
					mu.Unlock()
					if n.Add(1) == 30 {
						once.Do(func() { close(enough) })
					}
				}
			}()
		}
		select {
		case <-enough:
		case <-ctx.Done():
			t.Fatal("the burst did not get going")
		}
		s.kill()
		wg.Wait()

		a.SetDown(false)
		s.start()
		mu.Lock()
		want := append([]string(nil), acked...)
		mu.Unlock()
		count := func() map[string]int {
			seen := map[string]int{}
			for _, id := range txntest.EventIDs(a.Accepted()) {
				seen[id]++
			}
			return seen
		}
		txntest.Eventually(t, "every acknowledged event reaches the appservice", func() bool {
			seen := count()
			for _, id := range want {
				if seen[id] == 0 {
					return false
				}
			}
			return true
		})
		for id, c := range count() {
			if c != 1 {
				t.Errorf("event %s reached the appservice %d times", id, c)
			}
		}
		t.Logf("%d acknowledged events, %d transactions accepted", len(want), len(a.Accepted()))
	})
}
