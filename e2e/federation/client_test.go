package fede2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// client is a logged-in user of one server. Methods taking a testing.TB
// fail the test on anything but 200; do returns the exchange for tests that
// expect an error and for goroutines.
type client struct {
	s        *homeserver
	userID   string
	deviceID string
	token    string

	// since is the next_batch of the last /sync; view accumulates what
	// every /sync so far said.
	since string
	view  syncView
}

// do sends a request with a JSON body (nil for none) and returns the
// exchange, or an error when no HTTP response arrived.
func (c *client) do(ctx context.Context, method, path string, body any) (*harness.Exchange, error) {
	return c.s.do(ctx, c.token, method, path, body)
}

func (s *homeserver) do(ctx context.Context, token, method, path string, body any) (*harness.Exchange, error) {
	return harness.Endpoint{Label: s.label, URL: s.url, Client: s.httpc}.Do(ctx, token, method, path, body)
}

// must sends a request, fails the test unless the answer is 200, and
// decodes it into out (when not nil).
func (c *client) must(t testing.TB, method, path string, body, out any) *harness.Exchange {
	t.Helper()
	x, err := c.do(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%v", err)
	}
	c.s.proc.RequireOK(t, x, c.userID, out)
	return x
}

const password = "fede2e password, long enough"

// register creates localpart through open registration (the one-stage
// m.login.dummy flow, client-server-api "User-Interactive Authentication
// API") and returns its logged-in client.
func (s *homeserver) register(t testing.TB, localpart string) *client {
	t.Helper()
	ctx := context.Background()
	body := map[string]any{"username": localpart, "password": password, "initial_device_display_name": "fede2e"}
	x, err := s.do(ctx, "", "POST", "/_matrix/client/v3/register", body)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status == http.StatusUnauthorized {
		var uia struct {
			Session string `json:"session"`
		}
		_ = json.Unmarshal(x.RespBody, &uia)
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
		if x, err = s.do(ctx, "", "POST", "/_matrix/client/v3/register", body); err != nil {
			t.Fatal(err)
		}
	}
	c := s.registered(t, x, localpart)
	if want := "@" + localpart + ":" + s.name; c.userID != want {
		t.Fatalf("registered %s, want %s", c.userID, want)
	}
	return c
}

// registered is the client a /register answer logged in, or fails the
// test (what names the account).
func (s *homeserver) registered(t testing.TB, x *harness.Exchange, what string) *client {
	t.Helper()
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if x.Status != http.StatusOK || json.Unmarshal(x.RespBody, &resp) != nil || resp.AccessToken == "" {
		t.Fatalf("registering %s:\n%s", what, x)
	}
	return &client{s: s, userID: resp.UserID, deviceID: resp.DeviceID, token: resp.AccessToken}
}

func roomPath(roomID string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
}

func newTxnID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "fed" + hex.EncodeToString(b)
}

// createRoom creates a room with the given request body and returns its ID.
func (c *client) createRoom(t testing.TB, body map[string]any) string {
	t.Helper()
	var resp struct {
		RoomID string `json:"room_id"`
	}
	c.must(t, "POST", "/_matrix/client/v3/createRoom", body, &resp)
	if resp.RoomID == "" {
		t.Fatal("createRoom answered without room_id")
	}
	return resp.RoomID
}

// joinPath is POST /join/{roomIdOrAlias} with the servers to join through
// as server_name parameters (client-server-api, "POST
// /_matrix/client/v3/join/{roomIdOrAlias}").
func joinPath(roomIDOrAlias string, via ...string) string {
	p := "/_matrix/client/v3/join/" + url.PathEscape(roomIDOrAlias)
	if len(via) > 0 {
		p += "?" + url.Values{"server_name": via}.Encode()
	}
	return p
}

// join joins a room by ID or alias and returns the room ID.
func (c *client) join(t testing.TB, roomIDOrAlias string, via ...string) string {
	t.Helper()
	var resp struct {
		RoomID string `json:"room_id"`
	}
	c.must(t, "POST", joinPath(roomIDOrAlias, via...), map[string]any{}, &resp)
	if resp.RoomID == "" {
		t.Fatalf("join %s answered without room_id", roomIDOrAlias)
	}
	return resp.RoomID
}

// membership posts one of invite, kick, ban, unban for userID.
func (c *client) membership(t testing.TB, roomID, action, userID string) {
	t.Helper()
	c.must(t, "POST", roomPath(roomID)+"/"+action, map[string]any{"user_id": userID, "reason": "fede2e " + action}, nil)
}

// leave leaves roomID (or rejects its invite).
func (c *client) leave(t testing.TB, roomID string) {
	t.Helper()
	c.must(t, "POST", roomPath(roomID)+"/leave", map[string]any{}, nil)
}

func textContent(body string) map[string]any {
	return map[string]any{"msgtype": "m.text", "body": body}
}

// sendText sends an m.text message and returns its event ID.
func (c *client) sendText(t testing.TB, roomID, body string) string {
	t.Helper()
	var resp struct {
		EventID string `json:"event_id"`
	}
	c.must(t, "PUT", roomPath(roomID)+"/send/m.room.message/"+newTxnID(), textContent(body), &resp)
	if resp.EventID == "" {
		t.Fatalf("send %q answered without event_id", body)
	}
	return resp.EventID
}

// event is the part of a client-format event the tests look at.
type event struct {
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	Type           string          `json:"type"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key"`
	Content        json.RawMessage `json:"content"`
}

// str returns content[key] when it is a string, or "".
func (e event) str(key string) string {
	var c map[string]any
	_ = json.Unmarshal(e.Content, &c)
	s, _ := c[key].(string)
	return s
}

// stateKey names a piece of room state.
type stateKey struct{ Type, StateKey string }

func (k stateKey) String() string { return fmt.Sprintf("(%s, %q)", k.Type, k.StateKey) }

// roomState is GET /rooms/{roomId}/state keyed by (type, state_key).
type roomState map[stateKey]event

// state returns the room's current state as the client sees it.
func (c *client) state(t testing.TB, roomID string) roomState {
	t.Helper()
	var evs []event
	c.must(t, "GET", roomPath(roomID)+"/state", nil, &evs)
	st := roomState{}
	for _, e := range evs {
		if e.StateKey == nil {
			t.Fatalf("%s: state event %s without state_key", c.s.label, e.EventID)
		}
		st[stateKey{e.Type, *e.StateKey}] = e
	}
	return st
}

// membershipOf returns userID's membership in st, or "" without one.
func (st roomState) membershipOf(userID string) string {
	return st[stateKey{"m.room.member", userID}].str("membership")
}

// diff describes how st and other differ by event ID, "" when they agree.
func (st roomState) diff(other roomState) string {
	keys := map[stateKey]bool{}
	for k := range st {
		keys[k] = true
	}
	for k := range other {
		keys[k] = true
	}
	var lines []string
	for k := range keys {
		a, b := st[k].EventID, other[k].EventID
		if a != b {
			lines = append(lines, fmt.Sprintf("  %v: %s vs %s", k, orNone(a), orNone(b)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func orNone(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// messages pages GET /rooms/{roomId}/messages backwards from the end of
// the room to its start and returns every event, oldest first.
func (c *client) messages(t testing.TB, roomID string) []event {
	t.Helper()
	return c.messagesPaged(t, roomID, 100)
}

// messagesPaged is messages with pages of at most limit events.
func (c *client) messagesPaged(t testing.TB, roomID string, limit int) []event {
	t.Helper()
	var all []event
	from := ""
	maxPages := 50 + 1000/limit
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("%s: /messages for %s did not reach the start of the room in %d pages", c.s.label, roomID, maxPages)
		}
		q := url.Values{"dir": {"b"}, "limit": {strconv.Itoa(limit)}}
		if from != "" {
			q.Set("from", from)
		}
		var resp struct {
			Chunk []event `json:"chunk"`
			End   string  `json:"end"`
		}
		c.must(t, "GET", roomPath(roomID)+"/messages?"+q.Encode(), nil, &resp)
		all = append(all, resp.Chunk...)
		// client-server-api, GET /messages: end is omitted when no further
		// events are available.
		if resp.End == "" || len(resp.Chunk) == 0 || resp.End == from {
			break
		}
		from = resp.End
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// bodies returns the bodies of the m.room.message events in evs, in order.
func bodies(evs []event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == "m.room.message" {
			out = append(out, e.str("body"))
		}
	}
	return out
}

// syncView accumulates what a client's /sync answers said.
type syncView struct {
	// section is the room's latest section: "join", "invite" or "leave".
	section map[string]string
	// timeline holds every timeline event seen per room, in order.
	timeline map[string][]event
	seen     map[string]bool // event IDs in timeline
	// invite holds the latest invite_state per invited room.
	invite map[string][]event
	// toDevice holds every to-device message received, in order.
	toDevice []event
}

type syncRoom struct {
	Timeline struct {
		Events []event `json:"events"`
	} `json:"timeline"`
	State struct {
		Events []event `json:"events"`
	} `json:"state"`
	InviteState struct {
		Events []event `json:"events"`
	} `json:"invite_state"`
}

// syncOnce runs one incremental /sync (long-polling up to timeout) and
// merges it into the view.
func (c *client) syncOnce(t testing.TB, timeout time.Duration) {
	t.Helper()
	q := url.Values{
		"timeout": {fmt.Sprint(timeout.Milliseconds())},
		"filter":  {`{"room":{"timeline":{"limit":100}}}`},
	}
	if c.since != "" {
		q.Set("since", c.since)
	}
	var resp struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join   map[string]syncRoom `json:"join"`
			Invite map[string]syncRoom `json:"invite"`
			Leave  map[string]syncRoom `json:"leave"`
		} `json:"rooms"`
		ToDevice struct {
			Events []event `json:"events"`
		} `json:"to_device"`
	}
	c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	if resp.NextBatch == "" {
		t.Fatalf("%s: /sync answered without next_batch", c.s.label)
	}
	c.since = resp.NextBatch
	v := &c.view
	if v.section == nil {
		v.section, v.timeline, v.seen, v.invite = map[string]string{}, map[string][]event{}, map[string]bool{}, map[string][]event{}
	}
	merge := func(section string, rooms map[string]syncRoom) {
		for id, r := range rooms {
			v.section[id] = section
			for _, e := range r.Timeline.Events {
				if !v.seen[e.EventID] {
					v.seen[e.EventID] = true
					v.timeline[id] = append(v.timeline[id], e)
				}
			}
			if section == "invite" {
				v.invite[id] = r.InviteState.Events
			}
		}
	}
	merge("join", resp.Rooms.Join)
	merge("invite", resp.Rooms.Invite)
	merge("leave", resp.Rooms.Leave)
	v.toDevice = append(v.toDevice, resp.ToDevice.Events...)
}

// syncUntil long-polls /sync until cond holds of the view, failing the
// test after bound. progress describes the view for the failure message.
func (c *client) syncUntil(t testing.TB, what string, bound time.Duration, cond func(v *syncView) bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		c.syncOnce(t, time.Second)
		if cond(&c.view) {
			return
		}
		if time.Now().After(deadline) {
			c.s.c.skipOnKnownBug(t, what)
			t.Fatalf("%s (%s): %s: not seen in /sync within %v", c.userID, c.s.label, what, bound)
		}
	}
}

// hasBody reports whether the room's timeline in the view holds a message
// with body.
func (v *syncView) hasBody(roomID, body string) bool {
	for _, e := range v.timeline[roomID] {
		if e.Type == "m.room.message" && e.str("body") == body {
			return true
		}
	}
	return false
}

// memberEvent returns the last m.room.member event for userID in the
// room's timeline, or ok=false.
func (v *syncView) memberEvent(roomID, userID string) (event, bool) {
	tl := v.timeline[roomID]
	for i := len(tl) - 1; i >= 0; i-- {
		e := tl[i]
		if e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == userID {
			return e, true
		}
	}
	return event{}, false
}

// eventually polls check until it returns "" (done). After bound it skips
// the test if a server logged a known bug's symptom (knownbugs_test.go),
// and otherwise fails it with check's last answer.
func (c *cluster) eventually(t testing.TB, what string, bound time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			c.skipOnKnownBug(t, what+":\n"+msg)
			t.Fatalf("%s: still not so after %v:\n%s", what, bound, msg)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
