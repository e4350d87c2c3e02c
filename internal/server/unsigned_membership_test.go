package server_test

import (
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type membershipEvent struct {
	EventID  string         `json:"event_id"`
	Type     string         `json:"type"`
	StateKey *string        `json:"state_key"`
	Content  map[string]any `json:"content"`
	Unsigned struct {
		Membership string `json:"membership"`
	} `json:"unsigned"`
}

// client-server-api, ClientEvent unsigned.membership (v1.11): "The room
// membership of the user making the request, at the time of the event ...
// including any changes caused by the event. If the user had yet to join
// the room at the time of the event ... this property is set to leave."
// Served in /messages, /event, /context and /sync alike.
func TestUnsignedMembershipIsTheReadersMembershipAtTheEvent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		before := alice.SendText(room, "before bob")
		alice.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		after := alice.SendText(room, "after bob joined")

		var page struct {
			Chunk []membershipEvent `json:"chunk"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=50", nil, &page)
		got := map[string]string{}
		for _, e := range page.Chunk {
			switch {
			case e.EventID == before:
				got["before"] = e.Unsigned.Membership
			case e.EventID == after:
				got["after"] = e.Unsigned.Membership
			case e.Type == "m.room.member" && e.StateKey != nil && *e.StateKey == bob.UserID:
				got[e.Content["membership"].(string)] = e.Unsigned.Membership
			}
		}
		want := map[string]string{"before": "leave", "invite": "invite", "join": "join", "after": "join"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("/messages: bob's membership at %q = %q, want %q (all: %v)", k, got[k], v, got)
			}
		}

		var one membershipEvent
		bob.MustDo("GET", servertest.Room(room)+"/event/"+url.PathEscape(after), nil, &one)
		if one.Unsigned.Membership != "join" {
			t.Errorf("/event: %q, want join", one.Unsigned.Membership)
		}
		var ctxResp struct {
			Event membershipEvent `json:"event"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/context/"+url.PathEscape(before), nil, &ctxResp)
		if ctxResp.Event.Unsigned.Membership != "leave" {
			t.Errorf("/context: %q, want leave", ctxResp.Event.Unsigned.Membership)
		}

		var sync struct {
			Rooms struct {
				Join map[string]struct {
					Timeline struct {
						Events []membershipEvent `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &sync)
		found := false
		for _, e := range sync.Rooms.Join[room].Timeline.Events {
			if e.EventID == after {
				found = true
				if e.Unsigned.Membership != "join" {
					t.Errorf("/sync: %q, want join", e.Unsigned.Membership)
				}
			}
		}
		if !found {
			t.Error("alice's message is not in bob's sync timeline")
		}
	})
}
