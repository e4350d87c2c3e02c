package fede2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ephemeralFeed follows one client's /sync for ephemeral events and
// presence, with a token of its own.
type ephemeralFeed struct {
	c     *client
	since string
	// typing is the latest m.typing user list per room.
	typing map[string][]string
	// receipts are "event type user thread" strings seen, per room.
	receipts map[string]map[string]bool
	// presence is the latest m.presence content per user.
	presence map[string]map[string]any
}

func newFeed(c *client) *ephemeralFeed {
	return &ephemeralFeed{c: c, typing: map[string][]string{}, receipts: map[string]map[string]bool{}, presence: map[string]map[string]any{}}
}

// poll runs one /sync (a short long-poll) and merges what it says.
func (f *ephemeralFeed) poll(t testing.TB) {
	t.Helper()
	q := url.Values{"timeout": {"500"}, "set_presence": {"offline"}}
	if f.since != "" {
		q.Set("since", f.since)
	}
	var resp struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join map[string]struct {
				Ephemeral struct {
					Events []struct {
						Type    string          `json:"type"`
						Content json.RawMessage `json:"content"`
					} `json:"events"`
				} `json:"ephemeral"`
			} `json:"join"`
		} `json:"rooms"`
		Presence struct {
			Events []struct {
				Sender  string         `json:"sender"`
				Content map[string]any `json:"content"`
			} `json:"events"`
		} `json:"presence"`
	}
	f.c.must(t, "GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	f.since = resp.NextBatch
	for roomID, jr := range resp.Rooms.Join {
		for _, e := range jr.Ephemeral.Events {
			switch e.Type {
			case "m.typing":
				var c struct {
					UserIDs []string `json:"user_ids"`
				}
				_ = json.Unmarshal(e.Content, &c)
				f.typing[roomID] = c.UserIDs
			case "m.receipt":
				var c map[string]map[string]map[string]struct {
					ThreadID string `json:"thread_id"`
				}
				_ = json.Unmarshal(e.Content, &c)
				if f.receipts[roomID] == nil {
					f.receipts[roomID] = map[string]bool{}
				}
				for ev, types := range c {
					for typ, users := range types {
						for u, d := range users {
							f.receipts[roomID][strings.TrimSpace(fmt.Sprintf("%s %s %s %s", ev, typ, u, d.ThreadID))] = true
						}
					}
				}
			}
		}
	}
	for _, p := range resp.Presence.Events {
		f.presence[p.Sender] = p.Content
	}
}

// until polls until cond holds, failing the test after syncBound.
func (f *ephemeralFeed) until(t testing.TB, what string, cond func() string) {
	t.Helper()
	f.c.s.c.eventually(t, f.c.s.label+": "+what, syncBound, func() string {
		f.poll(t)
		return cond()
	})
}

// Typing notices, read receipts and presence flow between servers as
// m.typing, m.receipt and m.presence EDUs (server-server-api "Typing
// Notifications", "Receipts", "Presence"); private receipts never leave
// their server.
func TestFederation_TypingReceiptsAndPresence(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "ephemeral"})
	bob.join(t, roomID, hs1.name)
	waitMembership(t, roomID, map[string]string{bob.userID: "join"}, alice, bob)
	aliceFeed, bobFeed := newFeed(alice), newFeed(bob)
	aliceFeed.poll(t)
	bobFeed.poll(t)

	t.Run("typing both ways", func(t *testing.T) {
		alice.must(t, "PUT", roomPath(roomID)+"/typing/"+url.PathEscape(alice.userID), map[string]any{"typing": true, "timeout": 30000}, nil)
		bobFeed.until(t, "alice typing", func() string {
			if got := bobFeed.typing[roomID]; len(got) != 1 || got[0] != alice.userID {
				return fmt.Sprintf("typing %v", got)
			}
			return ""
		})
		bob.must(t, "PUT", roomPath(roomID)+"/typing/"+url.PathEscape(bob.userID), map[string]any{"typing": true, "timeout": 30000}, nil)
		aliceFeed.until(t, "bob typing", func() string {
			if got := aliceFeed.typing[roomID]; len(got) != 2 {
				return fmt.Sprintf("typing %v, want alice and bob", got)
			}
			return ""
		})
		alice.must(t, "PUT", roomPath(roomID)+"/typing/"+url.PathEscape(alice.userID), map[string]any{"typing": false}, nil)
		bobFeed.until(t, "alice stopped typing", func() string {
			if got := bobFeed.typing[roomID]; len(got) != 1 || got[0] != bob.userID {
				return fmt.Sprintf("typing %v, want bob only", got)
			}
			return ""
		})
	})

	t.Run("receipts, private ones staying home", func(t *testing.T) {
		first, second := alice.sendText(t, roomID, "read me"), alice.sendText(t, roomID, "and me")
		bob.syncUntil(t, "alice's messages", syncBound, func(v *syncView) bool {
			return v.hasBody(roomID, "read me") && v.hasBody(roomID, "and me")
		})
		bob.must(t, "POST", roomPath(roomID)+"/receipt/m.read.private/"+url.PathEscape(second), map[string]any{}, nil)
		bob.must(t, "POST", roomPath(roomID)+"/receipt/m.read/"+url.PathEscape(first), map[string]any{}, nil)
		want := first + " m.read " + bob.userID
		aliceFeed.until(t, "bob's receipt", func() string {
			if !aliceFeed.receipts[roomID][want] {
				return fmt.Sprintf("receipts %v, want %q", aliceFeed.receipts[roomID], want)
			}
			return ""
		})
		alice.must(t, "POST", roomPath(roomID)+"/receipt/m.read/"+url.PathEscape(second), map[string]any{"thread_id": "main"}, nil)
		wantThreaded := second + " m.read " + alice.userID + " main"
		bobFeed.until(t, "alice's threaded receipt", func() string {
			if !bobFeed.receipts[roomID][wantThreaded] {
				return fmt.Sprintf("receipts %v, want %q", bobFeed.receipts[roomID], wantThreaded)
			}
			return ""
		})
		for k := range aliceFeed.receipts[roomID] {
			if strings.Contains(k, "m.read.private") {
				t.Errorf("bob's private receipt reached hs1: %q", k)
			}
		}
	})

	t.Run("presence both ways", func(t *testing.T) {
		bob.must(t, "PUT", "/_matrix/client/v3/presence/"+url.PathEscape(bob.userID)+"/status",
			map[string]any{"presence": "online", "status_msg": "on hs2"}, nil)
		aliceFeed.until(t, "bob's presence", func() string {
			if p := aliceFeed.presence[bob.userID]; p["presence"] != "online" || p["status_msg"] != "on hs2" {
				return fmt.Sprintf("bob's presence %v", p)
			}
			return ""
		})
		alice.must(t, "PUT", "/_matrix/client/v3/presence/"+url.PathEscape(alice.userID)+"/status",
			map[string]any{"presence": "unavailable", "status_msg": "on hs1"}, nil)
		c.eventually(t, "hs2 answers alice's presence", syncBound, func() string {
			var p map[string]any
			bob.must(t, "GET", "/_matrix/client/v3/presence/"+url.PathEscape(alice.userID)+"/status", nil, &p)
			if p["presence"] != "unavailable" || p["status_msg"] != "on hs1" {
				return fmt.Sprintf("alice's presence on hs2: %v", p)
			}
			return ""
		})
	})

	// Presence is sent when it changes; a server that newly shares a room
	// with a user is told the user's current presence at the join, as
	// Synapse does (internal/presence/joins.go): hs2 joining carol's room
	// learns carol's, and hs1 learns dave's when dave joins.
	t.Run("presence reaches servers newly sharing a room", func(t *testing.T) {
		carol, dave := hs1.register(t, "carol"), hs2.register(t, "dave")
		for _, u := range []*client{carol, dave} {
			u.must(t, "PUT", "/_matrix/client/v3/presence/"+url.PathEscape(u.userID)+"/status",
				map[string]any{"presence": "online", "status_msg": "hello from " + u.s.label}, nil)
		}
		room := carol.createRoom(t, map[string]any{"preset": "public_chat", "name": "presence at join"})
		carolFeed, bobFeed2 := newFeed(carol), newFeed(bob)
		carolFeed.poll(t)
		bobFeed2.poll(t)
		bob.join(t, room, hs1.name)
		bobFeed2.until(t, "carol's presence after joining her room", func() string {
			if p := bobFeed2.presence[carol.userID]; p["status_msg"] != "hello from hs1" {
				return fmt.Sprintf("carol's presence %v", p)
			}
			return ""
		})
		dave.join(t, room, hs1.name)
		carolFeed.until(t, "dave's presence after he joined", func() string {
			if p := carolFeed.presence[dave.userID]; p["status_msg"] != "hello from hs2" {
				return fmt.Sprintf("dave's presence %v", p)
			}
			return ""
		})
	})

	// server-server-api "Receipts": a server speaks only for its own users.
	// A third server forging bob's receipt (and a typing notice) is
	// ignored; hs1 handles a transaction's EDUs before answering it, so
	// after the 200 the forgery would already show.
	t.Run("forged EDUs for another server's user are dropped", func(t *testing.T) {
		mal := newRogue(t, c, "mal", nil)
		bob.must(t, "PUT", roomPath(roomID)+"/typing/"+url.PathEscape(bob.userID), map[string]any{"typing": true, "timeout": 120000}, nil)
		aliceFeed.until(t, "bob typing again", func() string {
			if !contains(aliceFeed.typing[roomID], bob.userID) {
				return fmt.Sprintf("typing %v", aliceFeed.typing[roomID])
			}
			return ""
		})
		later := alice.sendText(t, roomID, "not read by bob")
		body := mustJSON(map[string]any{"origin": mal.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{},
			"edus": []any{
				map[string]any{"edu_type": "m.receipt", "content": map[string]any{roomID: map[string]any{"m.read": map[string]any{
					bob.userID: map[string]any{"event_ids": []string{later}, "data": map[string]any{"ts": 1}}}}}},
				map[string]any{"edu_type": "m.typing", "content": map[string]any{"room_id": roomID, "user_id": bob.userID, "typing": false}},
			}})
		mal.send(t, hs1, newTxnID(), body)
		aliceFeed.poll(t)
		if k := later + " m.read " + bob.userID; aliceFeed.receipts[roomID][k] {
			t.Errorf("hs1 took a receipt for %s from %s", bob.userID, mal.name)
		}
		if !contains(aliceFeed.typing[roomID], bob.userID) {
			t.Errorf("a forged typing notice stopped %s typing on hs1: %v", bob.userID, aliceFeed.typing[roomID])
		}
		if hs1.logLinesContaining("dropped receipts from an m.receipt EDU") == "" {
			t.Errorf("hs1 did not log dropping the forged receipt")
		}
	})

	// A receipt EDU that outruns its event is kept and shown once the
	// event arrives (see internal/receipts/pending.go).
	t.Run("a receipt that arrives before its event waits for it", func(t *testing.T) {
		late := newRogue(t, c, "late", nil)
		lou := late.userID("lou")
		late.join(t, hs1, roomID, "lou")
		waitMembership(t, roomID, map[string]string{lou: "join"}, alice)
		ev := late.newEvent(t, roomID, message(lou, "read before it was sent"))
		body := mustJSON(map[string]any{"origin": late.name, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{},
			"edus": []any{map[string]any{"edu_type": "m.receipt", "content": map[string]any{roomID: map[string]any{"m.read": map[string]any{
				lou: map[string]any{"event_ids": []string{ev.EventID()}, "data": map[string]any{"ts": 1}}}}}}}})
		late.send(t, hs1, newTxnID(), body)
		late.sendPDUs(t, []*homeserver{hs1}, ev.FederationJSON())
		late.accept(ev)
		k := ev.EventID() + " m.read " + lou
		aliceFeed.until(t, "lou's receipt on the event that came after it", func() string {
			if !aliceFeed.receipts[roomID][k] {
				return fmt.Sprintf("receipts %v", aliceFeed.receipts[roomID])
			}
			return ""
		})
	})
}
