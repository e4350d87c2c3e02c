package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// client is a Matrix client of one server, logged in or not. Its methods
// that take a *testing.T fail the test on anything but 200; do returns
// transport errors and statuses for goroutines and for tests that expect
// an error.
type client struct {
	s        *server
	httpc    *http.Client // nil: the server's shared client
	userID   string
	deviceID string
	token    string
}

// anonymous returns a client without an access token.
func (s *server) anonymous() *client { return &client{s: s} }

// do sends a request with a JSON body (nil for none) and returns the
// exchange, or an error when no HTTP response arrived.
func (c *client) do(ctx context.Context, method, path string, body any) (*harness.Exchange, error) {
	hc := c.s.httpc
	if c.httpc != nil {
		hc = c.httpc
	}
	return harness.Endpoint{URL: c.s.url, Client: hc}.Do(ctx, c.token, method, path, body)
}

// must sends a request, fails the test unless the answer is 200, and
// decodes it into out (when not nil).
func (c *client) must(t testing.TB, method, path string, body, out any) *harness.Exchange {
	t.Helper()
	x, err := c.do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%v", err)
	}
	c.s.proc.RequireOK(t, x, "", out)
	return x
}

// login logs localpart in with m.login.password and an m.id.user
// identifier (client-server-api, "Login").
func (s *server) login(t testing.TB, localpart, password string) *client {
	t.Helper()
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	s.anonymous().must(t, "POST", "/_matrix/client/v3/login", loginBody(localpart, password), &resp)
	if resp.AccessToken == "" || resp.UserID == "" || resp.DeviceID == "" {
		t.Fatalf("login %s: answer lacks user_id, access_token or device_id: %+v", localpart, resp)
	}
	return &client{s: s, userID: resp.UserID, deviceID: resp.DeviceID, token: resp.AccessToken}
}

func loginBody(localpart, password string) map[string]any {
	return map[string]any{
		"type":                        "m.login.password",
		"identifier":                  map[string]any{"type": "m.id.user", "user": localpart},
		"password":                    password,
		"initial_device_display_name": "myelin e2e",
	}
}

// password is every test user's password.
const password = "e2e password, long enough"

// newUser creates localpart with register-user and logs it in.
func (s *server) newUser(t testing.TB, localpart string) *client {
	t.Helper()
	s.registerUser(localpart, password)
	return s.login(t, localpart, password)
}

func roomPath(roomID string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
}

// createRoom creates a private room and returns its ID.
func (c *client) createRoom(t testing.TB, name string) string {
	t.Helper()
	var resp struct {
		RoomID string `json:"room_id"`
	}
	c.must(t, "POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat", "name": name}, &resp)
	if resp.RoomID == "" {
		t.Fatal("createRoom answered without room_id")
	}
	return resp.RoomID
}

// sendPath is the path of an m.room.message send with txnID.
func sendPath(roomID, txnID string) string {
	return roomPath(roomID) + "/send/m.room.message/" + url.PathEscape(txnID)
}

func textContent(body string) map[string]any {
	return map[string]any{"msgtype": "m.text", "body": body}
}

// sendText sends an m.text message with a fresh transaction ID and returns
// its event ID.
func (c *client) sendText(t testing.TB, roomID, body string) string {
	t.Helper()
	var resp struct {
		EventID string `json:"event_id"`
	}
	c.must(t, "PUT", sendPath(roomID, newTxnID()), textContent(body), &resp)
	if resp.EventID == "" {
		t.Fatalf("send %q answered without event_id", body)
	}
	return resp.EventID
}

func newTxnID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "e2e" + hex.EncodeToString(b)
}

// event is the part of a client-format event the tests look at.
type event struct {
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// body is content.body, or "" when absent.
func (e event) body() string {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(e.Content, &c)
	return c.Body
}

// roomMessages pages GET /rooms/{roomId}/messages backwards from the end
// of the room to its start and returns every event, oldest first.
func (c *client) roomMessages(t testing.TB, roomID string) []event {
	t.Helper()
	var all []event
	from := ""
	const maxPages = 200
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("/messages for %s did not reach the start of the room in %d pages (%d events so far)", roomID, maxPages, len(all))
		}
		q := url.Values{"dir": {"b"}, "limit": {"100"}}
		if from != "" {
			q.Set("from", from)
		}
		var resp struct {
			Chunk []event `json:"chunk"`
			Start string  `json:"start"`
			End   string  `json:"end"`
		}
		c.must(t, "GET", roomPath(roomID)+"/messages?"+q.Encode(), nil, &resp)
		all = append(all, resp.Chunk...)
		// client-server-api, GET /messages: "If no further events are
		// available (either because we have reached the start of the
		// timeline, or because the user does not have permission to see
		// any more events), this property is omitted from the response."
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		if resp.End == from {
			t.Fatalf("/messages for %s returned end == from (%q) with %d events: paging would loop", roomID, from, len(resp.Chunk))
		}
		from = resp.End
	}
	// Reverse: dir=b lists newest first.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// syncResponse is the part of a /sync answer the tests look at.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events    []event `json:"events"`
				Limited   bool    `json:"limited"`
				PrevBatch string  `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// syncPath is a /sync request with an inline filter that lets a room's
// timeline hold up to timelineLimit events.
func syncPath(since string, timeoutMS, timelineLimit int) string {
	q := url.Values{
		"timeout": {fmt.Sprint(timeoutMS)},
		"filter":  {fmt.Sprintf(`{"room":{"timeline":{"limit":%d}}}`, timelineLimit)},
	}
	if since != "" {
		q.Set("since", since)
	}
	return "/_matrix/client/v3/sync?" + q.Encode()
}

// sync runs one /sync without waiting (timeout=0).
func (c *client) sync(t testing.TB, since string, timelineLimit int) *syncResponse {
	t.Helper()
	var resp syncResponse
	c.must(t, "GET", syncPath(since, 0, timelineLimit), nil, &resp)
	if resp.NextBatch == "" {
		t.Fatal("/sync answered without next_batch")
	}
	return &resp
}

// timeline returns the events of roomID's timeline in a sync answer.
func (r *syncResponse) timeline(roomID string) []event {
	return r.Rooms.Join[roomID].Timeline.Events
}

// messageIDs returns the event IDs of the m.room.message events in evs.
func messageIDs(evs []event) []string {
	var ids []string
	for _, e := range evs {
		if e.Type == "m.room.message" {
			ids = append(ids, e.EventID)
		}
	}
	return ids
}
