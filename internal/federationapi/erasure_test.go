package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type erasedSet map[string]bool

func (s erasedSet) ErasedSenders(_ context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		if s[id] {
			out[id] = true
		}
	}
	return out, nil
}

// Erasure (client-server-api "Account deactivation", erase, v1.10): "any
// users (or servers) which join the room after the erasure request are
// served redacted copies of the events sent by this account". A server
// that had a member in the room when an event was sent still gets it
// whole.
func TestErasedSender_ServersThatJoinLaterGetRedactedCopies(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		alice := "@alice:" + us
		roomID, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: alice, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		say := func(body string) *event.Event {
			ev, err := r.hs1.e.Send(ctx, roomID, &event.Builder{Type: event.TypeMessage, Sender: alice,
				Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": body})}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		before := say("sent before hs2 joined")
		r.join(roomID, "@bob:hs2.test")
		after := say("sent while hs2 was in the room")
		r.hs1.e.SetErasure(erasedSet{alice: true})

		body := func(eventID string) string {
			status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/event/"+url.PathEscape(eventID), nil)
			if status != http.StatusOK {
				t.Fatalf("/event: %d %s", status, raw)
			}
			var resp struct {
				PDUs []struct {
					Content map[string]any `json:"content"`
				} `json:"pdus"`
			}
			if err := json.Unmarshal(raw, &resp); err != nil || len(resp.PDUs) != 1 {
				t.Fatalf("/event: %s", raw)
			}
			b, _ := resp.PDUs[0].Content["body"].(string)
			return b
		}
		if got := body(before.EventID()); got != "" {
			t.Errorf("event sent before hs2 joined: body %q, want it redacted", got)
		}
		if got := body(after.EventID()); got != "sent while hs2 was in the room" {
			t.Errorf("event sent while hs2 was in the room: body %q, want it whole", got)
		}

		status, raw := r.do("hs2.test", "GET", "/_matrix/federation/v1/backfill/"+url.PathEscape(roomID)+"?v="+url.QueryEscape(after.EventID())+"&limit=20", nil)
		if status != http.StatusOK {
			t.Fatalf("/backfill: %d %s", status, raw)
		}
		var bf struct {
			PDUs []json.RawMessage `json:"pdus"`
		}
		if err := json.Unmarshal(raw, &bf); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, p := range bf.PDUs {
			ev, err := event.Parse(p, roomversion.MustGet("10"))
			if err != nil {
				t.Fatal(err)
			}
			var c struct{ Body string }
			_ = json.Unmarshal(ev.Content(), &c)
			switch ev.EventID() {
			case before.EventID():
				seen++
				if c.Body != "" {
					t.Errorf("backfill: earlier event whole (%q), want it redacted", c.Body)
				}
			case after.EventID():
				seen++
				if c.Body == "" {
					t.Error("backfill: later event redacted, want it whole")
				}
			}
		}
		if seen != 2 {
			t.Errorf("backfill returned %d of the two messages", seen)
		}
	})
}
