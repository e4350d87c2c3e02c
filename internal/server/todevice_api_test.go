package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// m is a JSON object.
type m = map[string]any

// toDeviceSync is the part of a /sync response these tests read.
type toDeviceSync struct {
	NextBatch string `json:"next_batch"`
	ToDevice  struct {
		Events []struct {
			Sender  string         `json:"sender"`
			Type    string         `json:"type"`
			Content map[string]any `json:"content"`
		} `json:"events"`
	} `json:"to_device"`
	OTKCounts      map[string]int `json:"device_one_time_keys_count"`
	UnusedFallback []string       `json:"device_unused_fallback_key_types"`
}

// seqs lists the "seq" field of each to-device event.
func (r toDeviceSync) seqs() []int {
	var out []int
	for _, e := range r.ToDevice.Events {
		n, _ := e.Content["seq"].(float64)
		out = append(out, int(n))
	}
	return out
}

func syncDevice(c *servertest.Client, since string) toDeviceSync {
	var resp toDeviceSync
	path := "/_matrix/client/v3/sync?timeout=0"
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	c.MustDo("GET", path, nil, &resp)
	return resp
}

func sendToDevice(c *servertest.Client, typ, txn string, messages map[string]map[string]m) (int, []byte) {
	return c.Do("PUT", "/_matrix/client/v3/sendToDevice/"+url.PathEscape(typ)+"/"+url.PathEscape(txn),
		map[string]any{"messages": messages}, nil)
}

func mustSendToDevice(t *testing.T, c *servertest.Client, txn string, messages map[string]map[string]m) {
	t.Helper()
	if status, raw := sendToDevice(c, "m.test", txn, messages); status != http.StatusOK {
		t.Fatalf("sendToDevice: %d %s", status, raw)
	}
}

// login logs in a new device of an existing user (registered with the
// servertest password), with deviceID when not "".
func login(t *testing.T, s *servertest.Server, localpart, deviceID string) *servertest.Client {
	t.Helper()
	body := map[string]any{"type": "m.login.password", "password": "correct horse battery staple",
		"identifier": map[string]any{"type": "m.id.user", "user": localpart}}
	if deviceID != "" {
		body["device_id"] = deviceID
	}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", body, &resp)
	return s.As(&servertest.Client{UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken})
}

// send_to_device.md "Server behaviour": messages are listed in order of
// arrival and deleted only when the client syncs with the next_batch of the
// response that carried them; until then a sync from the older token gets
// them again, across a restart too.
func TestToDevice_DeliveredInOrderUntilAcknowledgedAcrossRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice, bob := s.Register("alice"), s.Register("bob")
		t0 := syncDevice(bob, "").NextBatch
		for i := 1; i <= 3; i++ {
			mustSendToDevice(t, alice, fmt.Sprint("t", i), map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": i}}})
		}
		first := syncDevice(bob, t0)
		if got := first.seqs(); fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("first delivery: %v", got)
		}
		if e := first.ToDevice.Events[0]; e.Sender != alice.UserID || e.Type != "m.test" {
			t.Fatalf("event: %+v", e)
		}

		s.Stop()
		s = servertest.StartIn(t, dir, db, servertest.Options{})
		bob = s.As(bob)
		again := syncDevice(bob, t0)
		if got := again.seqs(); fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("re-sync from the old token after a restart: %v", got)
		}
		if got := syncDevice(bob, again.NextBatch).seqs(); len(got) != 0 {
			t.Fatalf("sync from the new token: %v", got)
		}
		// Acknowledged messages are gone, even for an initial sync.
		if got := syncDevice(bob, "").seqs(); len(got) != 0 {
			t.Fatalf("initial sync after acknowledgement: %v", got)
		}
		// New messages after the restart get new positions, past the
		// client's token.
		mustSendToDevice(t, s.As(alice), "t4", map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": 4}}})
		if got := syncDevice(bob, again.NextBatch).seqs(); fmt.Sprint(got) != "[4]" {
			t.Fatalf("after restart: %v", got)
		}
	})
}

// A retried request (same device, same transaction ID) is delivered once;
// the same transaction ID from another device is another request.
func TestToDevice_TransactionIDIsIdempotentPerDevice(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		alice2 := login(t, s, "alice", "")
		msg := map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": 1}}}
		mustSendToDevice(t, alice, "same", msg)
		mustSendToDevice(t, alice, "same", msg)
		mustSendToDevice(t, alice2, "same", map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": 2}}})
		if got := syncDevice(bob, "").seqs(); fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("got %v", got)
		}
	})
}

// "*" sends to every device of the user (send_to_device.md); a message for
// a device the user does not have is dropped, not an error.
func TestToDevice_StarReachesEveryDeviceAndUnknownDevicesAreIgnored(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		bob2 := login(t, s, "bob", "")
		mustSendToDevice(t, alice, "a", map[string]map[string]m{bob.UserID: {"*": m{"seq": 1}}})
		mustSendToDevice(t, alice, "b", map[string]map[string]m{bob.UserID: {"NOSUCHDEVICE": m{"seq": 2}, bob2.DeviceID: m{"seq": 3}}})
		if got := syncDevice(bob, "").seqs(); fmt.Sprint(got) != "[1]" {
			t.Fatalf("bob's first device: %v", got)
		}
		if got := syncDevice(bob2, "").seqs(); fmt.Sprint(got) != "[1 3]" {
			t.Fatalf("bob's second device: %v", got)
		}
	})
}

// A deleted device's queue goes with it: a later device with the same ID
// starts empty.
func TestToDevice_DeletingADeviceDeletesItsQueue(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		s.Register("bob")
		bob2 := login(t, s, "bob", "PHONE")
		mustSendToDevice(t, alice, "a", map[string]map[string]m{bob2.UserID: {"PHONE": m{"seq": 1}}})
		bob2.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, nil)
		again := login(t, s, "bob", "PHONE")
		if got := syncDevice(again, "").seqs(); len(got) != 0 {
			t.Fatalf("a new device with the old ID got %v", got)
		}
	})
}

// send_to_device.md: the server limits the messages in one /sync (to 100);
// the rest follow in order in the next syncs.
func TestToDevice_LargeQueueDeliveredInBoundedSyncs(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		const n = 130
		for i := 1; i <= n; i++ {
			mustSendToDevice(t, alice, fmt.Sprint(i), map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": i}}})
		}
		var got []int
		since := ""
		for range 3 {
			resp := syncDevice(bob, since)
			if len(resp.ToDevice.Events) > 100 {
				t.Fatalf("one sync delivered %d messages", len(resp.ToDevice.Events))
			}
			got = append(got, resp.seqs()...)
			since = resp.NextBatch
		}
		if len(got) != n {
			t.Fatalf("delivered %d of %d", len(got), n)
		}
		for i, seq := range got {
			if seq != i+1 {
				t.Fatalf("out of order at %d: %v", i, got)
			}
		}
	})
}

// A long-polling sync returns when a message for its device arrives.
func TestToDevice_WakesALongPoll(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		since := syncDevice(bob, "").NextBatch
		done := make(chan toDeviceSync, 1)
		go func() {
			var resp toDeviceSync
			req, _ := http.NewRequest("GET", s.URL+"/_matrix/client/v3/sync?timeout=60000&since="+url.QueryEscape(since), nil)
			req.Header.Set("Authorization", "Bearer "+bob.AccessToken)
			if r, err := http.DefaultClient.Do(req); err == nil {
				_ = json.NewDecoder(r.Body).Decode(&resp)
				r.Body.Close()
			}
			done <- resp
		}()
		time.Sleep(50 * time.Millisecond) // let it start waiting; correctness does not depend on it
		mustSendToDevice(t, alice, "a", map[string]map[string]m{bob.UserID: {bob.DeviceID: m{"seq": 7}}})
		if got := (<-done).seqs(); fmt.Sprint(got) != "[7]" {
			t.Fatalf("long poll got %v", got)
		}
	})
}

func TestToDevice_BadRequestsRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		path := "/_matrix/client/v3/sendToDevice/m.test/"
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"messages missing", map[string]any{}, 400, "M_MISSING_PARAM"},
			{"not JSON", "{", 400, "M_NOT_JSON"},
			{"bad user ID", map[string]any{"messages": map[string]any{"bob": map[string]any{"D": map[string]any{}}}}, 400, "M_INVALID_PARAM"},
			{"content not an object", map[string]any{"messages": map[string]any{bob.UserID: map[string]any{bob.DeviceID: "x"}}}, 400, "M_BAD_JSON"},
			{"devices not an object", map[string]any{"messages": map[string]any{bob.UserID: []string{"x"}}}, 400, "M_BAD_JSON"},
		} {
			status, raw := alice.Do("PUT", path+tc.name[:3], tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		if status, _ := s.Anonymous().Do("PUT", path+"x", map[string]any{"messages": map[string]any{}}, nil); status != 401 {
			t.Errorf("without a token: %d", status)
		}
		if got := syncDevice(bob, "").seqs(); len(got) != 0 {
			t.Fatalf("refused requests delivered %v", got)
		}
	})
}
