package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

func roomPath(roomID string) string { return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) }

// CreateRoom creates a room (POST /createRoom with body as given, e.g.
// {"preset": "public_chat"}) and returns its ID.
func (c *Client) CreateRoom(ctx context.Context, body map[string]any) (string, error) {
	if body == nil {
		body = map[string]any{}
	}
	var r struct {
		RoomID string `json:"room_id"`
	}
	if err := c.Conn.call(ctx, "POST", "/_matrix/client/v3/createRoom", c.AccessToken, body, &r); err != nil {
		return "", err
	}
	if r.RoomID == "" {
		return "", fmt.Errorf("createRoom: no room_id in the answer")
	}
	return r.RoomID, nil
}

// Join joins a room by ID or alias (POST /join/{roomIdOrAlias}) and
// returns the room ID.
func (c *Client) Join(ctx context.Context, roomIDOrAlias string) (string, error) {
	var r struct {
		RoomID string `json:"room_id"`
	}
	err := c.Conn.call(ctx, "POST", "/_matrix/client/v3/join/"+url.PathEscape(roomIDOrAlias), c.AccessToken, map[string]any{}, &r)
	return r.RoomID, err
}

// Sent is the outcome of a send.
type Sent struct {
	EventID string
	// Start is when the request was sent; Reply when its 200 was read.
	Start, Reply time.Time
}

// SendText sends an m.room.message (m.text) with a fresh transaction ID.
func (c *Client) SendText(ctx context.Context, roomID, text string) (Sent, error) {
	txn := c.txnPrefix + strconv.FormatUint(c.txn.Add(1), 10)
	path := roomPath(roomID) + "/send/m.room.message/" + url.PathEscape(txn)
	start := time.Now()
	r, err := c.Conn.do(ctx, "PUT", path, c.AccessToken, map[string]any{"msgtype": "m.text", "body": text}, 0)
	if err != nil {
		return Sent{}, err
	}
	var out struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.EventID == "" {
		return Sent{}, fmt.Errorf("send: no event_id in the answer")
	}
	return Sent{EventID: out.EventID, Start: start, Reply: r.done}, nil
}

// Typing sets the user's typing notice in a room (PUT
// /rooms/{roomId}/typing/{userId}); Sent has no event ID.
func (c *Client) Typing(ctx context.Context, roomID string, typing bool, timeout time.Duration) (Sent, error) {
	body := map[string]any{"typing": typing}
	if typing {
		body["timeout"] = timeout.Milliseconds()
	}
	start := time.Now()
	r, err := c.Conn.do(ctx, "PUT", roomPath(roomID)+"/typing/"+url.PathEscape(c.UserID), c.AccessToken, body, 0)
	if err != nil {
		return Sent{}, err
	}
	return Sent{Start: start, Reply: r.done}, nil
}

// JoinedMembers lists the room's joined members (GET
// /rooms/{roomId}/joined_members).
func (c *Client) JoinedMembers(ctx context.Context, roomID string) ([]string, error) {
	var r struct {
		Joined map[string]json.RawMessage `json:"joined"`
	}
	if err := c.Conn.call(ctx, "GET", roomPath(roomID)+"/joined_members", c.AccessToken, nil, &r); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.Joined))
	for u := range r.Joined {
		out = append(out, u)
	}
	return out, nil
}

// SyncParams are the query of GET /sync.
type SyncParams struct {
	Since   string        // "" for an initial sync
	Timeout time.Duration // long-poll bound sent to the server (0: answer at once)
	Filter  string        // a filter ID or inline JSON filter; "" for none
}

// SyncResponse is the part of a /sync answer the scenarios look at.
type SyncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]SyncRoom `json:"join"`
	} `json:"rooms"`
	// Bytes is the size of the answer's body.
	Bytes int `json:"-"`
	// Received is when its last byte was read.
	Received time.Time `json:"-"`
}

// SyncRoom is one joined room of a /sync answer.
type SyncRoom struct {
	Timeline struct {
		Events  []SyncEvent `json:"events"`
		Limited bool        `json:"limited"`
	} `json:"timeline"`
	State struct {
		Events []SyncEvent `json:"events"`
	} `json:"state"`
	Ephemeral struct {
		Events []EphemeralEvent `json:"events"`
	} `json:"ephemeral"`
}

// EphemeralEvent is one event of a room's ephemeral section; UserIDs is
// filled for m.typing.
type EphemeralEvent struct {
	Type    string `json:"type"`
	Content struct {
		UserIDs []string `json:"user_ids"`
	} `json:"content"`
}

// SyncEvent is the identity of one event in a /sync answer.
type SyncEvent struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	Sender  string `json:"sender"`
}

// Sync calls GET /sync. The request may take Timeout longer than other
// requests before it counts as failed.
func (c *Client) Sync(ctx context.Context, p SyncParams) (*SyncResponse, error) {
	q := url.Values{}
	if p.Since != "" {
		q.Set("since", p.Since)
	}
	q.Set("timeout", strconv.FormatInt(p.Timeout.Milliseconds(), 10))
	if p.Filter != "" {
		q.Set("filter", p.Filter)
	}
	r, err := c.Conn.do(ctx, "GET", "/_matrix/client/v3/sync?"+q.Encode(), c.AccessToken, nil, p.Timeout)
	if err != nil {
		return nil, err
	}
	var s SyncResponse
	if err := json.Unmarshal(r.body, &s); err != nil {
		return nil, fmt.Errorf("sync: decoding answer: %w", err)
	}
	if s.NextBatch == "" {
		return nil, fmt.Errorf("sync: no next_batch in the answer")
	}
	s.Bytes, s.Received = len(r.body), r.done
	return &s, nil
}
