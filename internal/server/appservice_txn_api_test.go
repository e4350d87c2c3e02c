package server_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/appservice/txnsender/txntest"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// bridgeRegistration writes the registration of an appservice "irc" whose
// users are @irc_*, reached at a's URL, with ephemeral data and MSC3202,
// and returns the configuration that lists it.
func bridgeRegistration(t *testing.T, dir string, a *txntest.Appservice) string {
	t.Helper()
	return bridgeRegistrationOf(t, dir, a, `[{exclusive: false, regex: "@irc_.*:localhost"}]`)
}

// bridgeRegistrationOf is bridgeRegistration with another users namespace.
func bridgeRegistrationOf(t *testing.T, dir string, a *txntest.Appservice, users string) string {
	t.Helper()
	reg := fmt.Sprintf(`id: irc
url: %q
as_token: as-token-irc
hs_token: %q
sender_localpart: ircbot
namespaces:
  users: %s
  aliases: []
  rooms: []
receive_ephemeral: true
org.matrix.msc3202: true
`, a.URL(), a.HSToken, users)
	path := filepath.Join(dir, "irc.yaml")
	if err := os.WriteFile(path, []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("app_service_config_files: [%q]\n", path)
}

func eachServerWithAppservice(t *testing.T, fn func(t *testing.T, s *servertest.Server, a *txntest.Appservice)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		a := txntest.New(t)
		s := servertest.Start(t, db, servertest.Options{ExtraYAML: bridgeRegistration(t, t.TempDir(), a)})
		fn(t, s, a)
	})
}

// application-service-api "Pushing events" and "Pushing ephemeral data":
// the messages of a room where a namespace user is joined reach the
// appservice in order, with the room's typing and receipts and its
// members' presence; to-device
// messages for a namespace user's device (with the device's key counts)
// and the device list changes of its room mates come under their MSC2409
// and MSC3202 names.
func TestAppserviceTxns_EventsEphemeralToDeviceAndDeviceLists(t *testing.T) {
	eachServerWithAppservice(t, func(t *testing.T, s *servertest.Server, a *txntest.Appservice) {
		alice, bob := s.Register("alice"), s.Register("irc_bob")
		room := sharedRoom(t, alice, bob)
		other := sharedRoom(t, alice, s.Register("carol"))
		var want []string
		for i := range 3 {
			want = append(want, alice.SendText(room, fmt.Sprint("hello ", i)))
			alice.SendText(other, "not bridged")
		}
		want = append(want, bob.SendText(room, "hello from irc"))
		a.WaitEvent(t, want[len(want)-1])
		rcs := a.Accepted()
		got := txntest.EventIDs(rcs)
		if fmt.Sprint(got[len(got)-len(want):]) != fmt.Sprint(want) {
			t.Fatalf("pushed %v, want %v at the end", got, want)
		}
		for _, rc := range rcs {
			for _, e := range rc.Events {
				if e.RoomID == other {
					t.Fatalf("an event of a room without interest was pushed: %s", e.Type)
				}
			}
		}

		alice.MustDo("PUT", servertest.Room(room)+"/typing/"+url.PathEscape(alice.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		rc := a.WaitEphemeral(t, "m.typing")
		for _, e := range rc.Ephemeral {
			if e.Type == "m.typing" && (e.RoomID != room || string(e.Content) != `{"user_ids":["`+alice.UserID+`"]}`) {
				t.Fatalf("typing pushed: %s in %s", e.Content, e.RoomID)
			}
		}
		alice.MustDo("POST", servertest.Room(room)+"/receipt/m.read/"+url.PathEscape(want[len(want)-1]), map[string]any{}, nil)
		a.WaitEphemeral(t, "m.receipt")

		alice.MustDo("PUT", "/_matrix/client/v3/presence/"+url.PathEscape(alice.UserID)+"/status",
			map[string]any{"presence": "unavailable", "status_msg": "away"}, nil)
		rc = a.WaitUntil(t, "alice's presence", func(rc txntest.Received) bool {
			for _, e := range rc.Ephemeral {
				if e.Type == "m.presence" && e.Sender == alice.UserID {
					return true
				}
			}
			return false
		})
		for _, e := range rc.Ephemeral {
			if e.Type == "m.presence" && e.Sender == alice.UserID &&
				(!strings.Contains(string(e.Content), `"presence":"unavailable"`) || !strings.Contains(string(e.Content), `"status_msg":"away"`)) {
				t.Fatalf("presence pushed: %s", e.Content)
			}
		}

		alice.MustDo("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", map[string]any{
			"messages": map[string]any{bob.UserID: map[string]any{bob.DeviceID: map[string]any{"secret": 42}}}}, nil)
		rc = a.WaitUntil(t, "a to-device message", func(rc txntest.Received) bool { return len(rc.ToDevice) > 0 })
		td := rc.ToDevice[0]
		if td.Type != "m.test" || td.Sender != alice.UserID || td.ToUserID != bob.UserID || td.ToDeviceID != bob.DeviceID ||
			string(td.Content) != `{"secret":42}` {
			t.Fatalf("to-device pushed: %+v", td)
		}
		// MSC3202: the recipient device's key counts come with it.
		if c, ok := rc.OTKCounts[bob.UserID][bob.DeviceID]; !ok || c["signed_curve25519"] != 0 {
			t.Fatalf("one-time key counts pushed: %v", rc.OTKCounts)
		}
		if f, ok := rc.FallbackKeys[bob.UserID][bob.DeviceID]; !ok || len(f) != 0 {
			t.Fatalf("unused fallback key types pushed: %v", rc.FallbackKeys)
		}

		// A new device of alice's changes her device list; she shares a
		// room of interest with the appservice.
		loginPW(t, s, "alice", "correct horse battery staple")
		rc = a.WaitUntil(t, "a device list change", func(rc txntest.Received) bool { return rc.DeviceLists != nil })
		if fmt.Sprint(rc.DeviceLists.Changed) != fmt.Sprint([]string{alice.UserID}) || rc.DeviceLists.Left == nil {
			t.Fatalf("device lists pushed: %+v", rc.DeviceLists)
		}
	})
}

// Transactions outlive the process: events sent while the appservice is
// down reach it after the server restarts on the same database, each once,
// and those it acknowledged before are not sent again.
func TestAppserviceTxns_SurviveARestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		a := txntest.New(t)
		dir := t.TempDir()
		opts := servertest.Options{ExtraYAML: bridgeRegistration(t, dir, a)}
		s := servertest.StartIn(t, dir, db, opts)
		alice, bob := s.Register("alice"), s.Register("irc_bob")
		room := sharedRoom(t, alice, bob)
		var want []string
		for i := range 3 {
			want = append(want, alice.SendText(room, fmt.Sprint("before ", i)))
		}
		a.WaitEvent(t, want[2])
		a.SetDown(true)
		for i := range 3 {
			want = append(want, alice.SendText(room, fmt.Sprint("while down ", i)))
		}
		tried := a.AttemptsSeen()
		txntest.Eventually(t, "the appservice is tried while down", func() bool { return a.AttemptsSeen() > tried })
		s.Stop()

		a.SetDown(false)
		s2 := servertest.StartIn(t, dir, db, opts)
		want = append(want, s2.As(alice).SendText(room, "after the restart"))
		a.WaitEvent(t, want[len(want)-1])
		seen := map[string]int{}
		for _, id := range txntest.EventIDs(a.Accepted()) {
			seen[id]++
		}
		for _, id := range want {
			if seen[id] != 1 {
				t.Errorf("event %s pushed %d times", id, seen[id])
			}
		}
	})
}
