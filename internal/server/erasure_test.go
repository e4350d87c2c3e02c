package server_test

import (
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Account deactivation with erase (client-server-api "Account
// deactivation", spec v1.10, MSC4025): users who join after the request
// are served redacted copies of the erased user's events, while users who
// were in the room when they were sent still see them whole. Search does
// not find them for the newcomers either.
func TestErase_LaterJoinersSeeTheErasedUsersEventsRedacted(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		secret := bob.SendText(room, "bob's secret plan")

		body := m{"erase": true, "auth": m{"type": "m.login.password", "password": testPassword,
			"identifier": m{"type": "m.id.user", "user": bob.UserID}}}
		bob.MustDo("POST", "/_matrix/client/v3/account/deactivate", body, nil)
		carol.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)

		body2 := func(c *servertest.Client) string {
			var ev struct {
				Content map[string]any `json:"content"`
			}
			c.MustDo("GET", "/_matrix/client/v3/rooms/"+esc(room)+"/event/"+esc(secret), nil, &ev)
			b, _ := ev.Content["body"].(string)
			return b
		}
		if got := body2(alice); got != "bob's secret plan" {
			t.Errorf("alice, joined when it was sent: body %q, want it whole", got)
		}
		if got := body2(carol); got != "" {
			t.Errorf("carol, joined after the erasure: body %q, want the event redacted", got)
		}

		messages := func(c *servertest.Client) map[string]json.RawMessage {
			var resp struct {
				Chunk []struct {
					EventID string          `json:"event_id"`
					Content json.RawMessage `json:"content"`
				} `json:"chunk"`
			}
			c.MustDo("GET", "/_matrix/client/v3/rooms/"+esc(room)+"/messages?dir=b&limit=50", nil, &resp)
			out := map[string]json.RawMessage{}
			for _, e := range resp.Chunk {
				out[e.EventID] = e.Content
			}
			return out
		}
		if got := string(messages(carol)[secret]); got != "{}" {
			t.Errorf("carol's /messages: content %s, want {}", got)
		}
		if got := string(messages(alice)[secret]); got == "{}" || got == "" {
			t.Errorf("alice's /messages: content %q, want it whole", got)
		}

		search := func(c *servertest.Client) int {
			var resp struct {
				SearchCategories struct {
					RoomEvents struct {
						Results []json.RawMessage `json:"results"`
					} `json:"room_events"`
				} `json:"search_categories"`
			}
			c.MustDo("POST", "/_matrix/client/v3/search", m{"search_categories": m{"room_events": m{"search_term": "secret"}}}, &resp)
			return len(resp.SearchCategories.RoomEvents.Results)
		}
		if n := search(carol); n != 0 {
			t.Errorf("carol's search found %d results, want none", n)
		}
		if n := search(alice); n != 1 {
			t.Errorf("alice's search found %d results, want 1", n)
		}
	})
}

// Without erase, deactivation leaves the user's events as they were.
func TestErase_DeactivationWithoutEraseKeepsEvents(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		id := bob.SendText(room, "still here")
		body := m{"auth": m{"type": "m.login.password", "password": testPassword,
			"identifier": m{"type": "m.id.user", "user": bob.UserID}}}
		bob.MustDo("POST", "/_matrix/client/v3/account/deactivate", body, nil)
		carol.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)
		var ev struct {
			Content map[string]any `json:"content"`
		}
		carol.MustDo("GET", "/_matrix/client/v3/rooms/"+esc(room)+"/event/"+esc(id), nil, &ev)
		if ev.Content["body"] != "still here" {
			t.Errorf("content %v, want it whole", ev.Content)
		}
	})
}
