package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Every endpoint that takes a filter applies the same bounds: its size
// (413 M_TOO_LARGE) and the length of each list (400 M_INVALID_PARAM).
// Before, /messages and /context took filters of any size, and 10 000
// wildcard types cost over a second of CPU per request (issue 10 item 9).
func TestFilters_OneBoundEverywhere(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		eventID := alice.SendText(roomID, "hello")

		types := func(n int) []string {
			l := make([]string, n)
			for i := range l {
				l[i] = "*"
			}
			return l
		}
		roomFilter := func(n int) string {
			b, _ := json.Marshal(map[string]any{"types": types(n)})
			return string(b)
		}
		syncFilter := func(n int) string {
			b, _ := json.Marshal(map[string]any{"room": map[string]any{"timeline": map[string]any{"types": types(n)}}})
			return string(b)
		}
		huge := `{"types":["` + strings.Repeat("a", syncapi.MaxFilterBytes) + `"]}`
		uploadPath := "/_matrix/client/v3/user/" + url.PathEscape(alice.UserID) + "/filter"
		endpoints := []struct {
			name string
			call func(filter string) (int, []byte)
			wrap func(n int) string
		}{
			{"sync", func(f string) (int, []byte) {
				return alice.Do("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(f), nil, nil)
			}, syncFilter},
			{"filter upload", func(f string) (int, []byte) {
				return alice.Do("POST", uploadPath, []byte(f), nil)
			}, syncFilter},
			{"messages", func(f string) (int, []byte) {
				return alice.Do("GET", servertest.Room(roomID)+"/messages?dir=b&filter="+url.QueryEscape(f), nil, nil)
			}, roomFilter},
			{"context", func(f string) (int, []byte) {
				return alice.Do("GET", servertest.Room(roomID)+"/context/"+url.PathEscape(eventID)+"?filter="+url.QueryEscape(f), nil, nil)
			}, roomFilter},
		}
		for _, ep := range endpoints {
			if status, raw := ep.call(ep.wrap(syncapi.MaxFilterListLen)); status != http.StatusOK {
				t.Errorf("%s: a filter at the list bound: %d %s", ep.name, status, short(raw))
			}
			if status, raw := ep.call(ep.wrap(syncapi.MaxFilterListLen + 1)); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("%s: a list over the bound: %d %s", ep.name, status, short(raw))
			}
			if status, raw := ep.call(huge); status != http.StatusRequestEntityTooLarge || servertest.Errcode(raw) != "M_TOO_LARGE" {
				t.Errorf("%s: a filter over %d bytes: %d %s", ep.name, syncapi.MaxFilterBytes, status, short(raw))
			}
		}
	})
}

// client-server-api GET /rooms/{roomId}/context/{eventId}: "filter: A
// RoomEventFilter to filter returned events with." It applies to
// events_before and events_after, not to the event asked for.
func TestContext_FilterAppliesToSurroundingEvents(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", servertest.Room(roomID)+"/join", map[string]any{}, nil)
		alice.SendText(roomID, "a1")
		bob.SendText(roomID, "b1")
		mid := bob.SendText(roomID, "b2")
		bob.SendText(roomID, "b3")
		alice.SendText(roomID, "a2")

		filter := `{"senders":["` + alice.UserID + `"],"lazy_load_members":true}`
		var c struct {
			Event        ev   `json:"event"`
			EventsBefore []ev `json:"events_before"`
			EventsAfter  []ev `json:"events_after"`
			State        []ev `json:"state"`
		}
		alice.MustDo("GET", servertest.Room(roomID)+"/context/"+url.PathEscape(mid)+"?limit=10&filter="+url.QueryEscape(filter), nil, &c)
		if c.Event.EventID != mid {
			t.Errorf("event = %s, want %s", c.Event.EventID, mid)
		}
		for _, e := range append(c.EventsBefore, c.EventsAfter...) {
			if e.Sender != alice.UserID {
				t.Errorf("an event of %s passed a filter for %s only", e.Sender, alice.UserID)
			}
		}
		if b, a := bodies(c.EventsBefore), bodies(c.EventsAfter); strings.Join(b, "|") != "a1" || strings.Join(a, "|") != "a2" {
			t.Errorf("events_before %v, events_after %v; want [a1] and [a2]", b, a)
		}
		members := 0
		for _, e := range c.State {
			if e.Type == "m.room.member" {
				members++
			}
		}
		// Lazy loading: the members who sent what was returned (alice, and
		// bob for the event itself).
		if members != 2 {
			t.Errorf("state holds %d member events, want 2", members)
		}
	})
}

// short keeps test failure messages readable.
func short(raw []byte) string {
	if len(raw) > 200 {
		return string(raw[:200]) + "…"
	}
	return string(raw)
}
