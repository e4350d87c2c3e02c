package fede2e

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// A server that joined a room late holds none of its earlier history, so
// its own answer to /timestamp_to_event for an earlier time is wrong or
// missing. It asks a server that was in the room (server-server-api "GET
// /_matrix/federation/v1/timestamp_to_event/{roomId}"), backfills the
// event that server names, and answers with it, so the client can then
// fetch the event itself (client-server-api "GET
// /_matrix/client/v1/rooms/{roomId}/timestamp_to_event").
func TestFederation_TimestampToEventAsksAServerThatHoldsTheHistory(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat", "name": "jump"})
	var sent []string
	for i := 0; i < 5; i++ {
		sent = append(sent, alice.sendText(t, roomID, fmt.Sprintf("before bob %d", i)))
		time.Sleep(5 * time.Millisecond) // distinct origin_server_ts
	}
	ts := map[string]int64{}
	for _, ev := range alice.messages(t, roomID) {
		ts[ev.EventID] = ev.OriginServerTS
	}
	time.Sleep(5 * time.Millisecond)
	bob.join(t, roomID, hs1.name)

	jump := func(who *client, at int64, dir string) string {
		t.Helper()
		var resp struct {
			EventID        string `json:"event_id"`
			OriginServerTS int64  `json:"origin_server_ts"`
		}
		q := url.Values{"ts": {strconv.FormatInt(at, 10)}, "dir": {dir}}
		who.must(t, "GET", "/_matrix/client/v1/rooms/"+url.PathEscape(roomID)+"/timestamp_to_event?"+q.Encode(), nil, &resp)
		return resp.EventID
	}

	t.Run("forwards from a time before the join", func(t *testing.T) {
		if got := jump(bob, ts[sent[1]], "f"); got != sent[1] {
			t.Fatalf("hs2 answered %s, want the message hs1 holds at that time, %s", got, sent[1])
		}
		// The event is now one hs2 can serve to bob.
		bob.must(t, "GET", roomPath(roomID)+"/event/"+url.PathEscape(sent[1]), nil, nil)
	})
	t.Run("backwards from a time before the join", func(t *testing.T) {
		if got := jump(bob, ts[sent[3]], "b"); got != sent[3] {
			t.Fatalf("hs2 answered %s, want %s", got, sent[3])
		}
		bob.must(t, "GET", roomPath(roomID)+"/context/"+url.PathEscape(sent[3])+"?limit=2", nil, nil)
	})
	t.Run("the server holding the history answers by itself", func(t *testing.T) {
		if got := jump(alice, ts[sent[2]], "f"); got != sent[2] {
			t.Fatalf("hs1 answered %s, want %s", got, sent[2])
		}
	})
}
