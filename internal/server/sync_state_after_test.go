package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// rawRoomSection returns rooms.<section>.<roomID> of a /sync answer as
// raw fields, so that a test can tell an absent key from an empty one.
func rawRoomSection(t *testing.T, body []byte, section, roomID string) map[string]json.RawMessage {
	t.Helper()
	var resp struct {
		Rooms map[string]map[string]map[string]json.RawMessage `json:"rooms"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Rooms[section][roomID]
}

// stateTypes lists the event types of a state or state_after section.
func stateTypes(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var sec struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &sec); err != nil {
		t.Fatalf("state section %s: %v", raw, err)
	}
	out := []string{}
	for _, e := range sec.Events {
		out = append(out, e.Type)
	}
	return out
}

func nextBatch(t *testing.T, body []byte) string {
	t.Helper()
	var r struct {
		NextBatch string `json:"next_batch"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.NextBatch == "" {
		t.Fatalf("no next_batch in %s", body)
	}
	return r.NextBatch
}

// client-server-api /sync, use_state_after (v1.16): "If this is set to
// true, servers MUST respond with the state between the previous sync and
// the end of the timeline in state_after and MUST omit state", and
// state_after is "Required ... even if it is empty". Without it, state
// (up to the start of the timeline) and no state_after.
func TestSync_UseStateAfterCarriesStateUpToTheEndOfTheTimeline(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{"name": "before"})
		const withAfter = "/_matrix/client/v3/sync?use_state_after=true"

		initial := alice.MustDo("GET", withAfter, nil, nil)
		sec := rawRoomSection(t, initial, "join", room)
		if _, ok := sec["state"]; ok {
			t.Errorf("initial sync with use_state_after carries state: %s", sec["state"])
		}
		if got := stateTypes(t, sec["state_after"]); !slices.Contains(got, "m.room.create") || !slices.Contains(got, "m.room.name") {
			t.Errorf("initial state_after %v lacks the room's state", got)
		}
		since := nextBatch(t, initial)

		// A state change inside a short (unlimited) timeline is in
		// state_after too, since state_after runs to the timeline's end.
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.name", map[string]any{"name": "after"}, nil)
		alice.SendText(room, "hello")
		inc := alice.MustDo("GET", withAfter+"&since="+url.QueryEscape(since), nil, nil)
		sec = rawRoomSection(t, inc, "join", room)
		if _, ok := sec["state"]; ok {
			t.Errorf("incremental sync with use_state_after carries state: %s", sec["state"])
		}
		if got := stateTypes(t, sec["state_after"]); !slices.Equal(got, []string{"m.room.name"}) {
			t.Errorf("incremental state_after = %v, want the new name", got)
		}
		since2 := nextBatch(t, inc)

		// Without the parameter: state, not state_after.
		plain := alice.MustDo("GET", "/_matrix/client/v3/sync?since="+url.QueryEscape(since), nil, nil)
		sec = rawRoomSection(t, plain, "join", room)
		if _, ok := sec["state_after"]; ok {
			t.Errorf("a sync without use_state_after carries state_after")
		}
		if _, ok := sec["state"]; !ok {
			t.Errorf("a sync without use_state_after lacks state")
		}

		// A room present only for an ephemeral event still has an empty
		// state_after.
		alice.MustDo("PUT", servertest.Room(room)+"/typing/"+url.PathEscape(alice.UserID), map[string]any{"typing": true, "timeout": 30000}, nil)
		eph := alice.MustDo("GET", withAfter+"&since="+url.QueryEscape(since2), nil, nil)
		sec = rawRoomSection(t, eph, "join", room)
		if sec == nil {
			t.Fatalf("the room is missing from a sync with only typing: %s", eph)
		}
		if got, ok := sec["state_after"]; !ok || len(stateTypes(t, got)) != 0 {
			t.Errorf("a room with only ephemeral news: state_after %s, want present and empty", got)
		}
		if code, _ := alice.Do("GET", "/_matrix/client/v3/sync?use_state_after=maybe", nil, nil); code != http.StatusBadRequest {
			t.Errorf("use_state_after=maybe: %d, want 400", code)
		}
	})
}

// An invite the user rejected shows under leave in a full sync with
// include_leave (issue 17), its timeline ending with the rejection, and
// without the history the user could never see.
func TestSync_RejectedInviteIsInTheLeaveSectionOfAFullSync(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "not for bob"})
		alice.SendText(room, "before the invite")
		alice.MustDo("POST", servertest.Room(room)+"/invite", map[string]any{"user_id": bob.UserID}, nil)
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)

		filter := url.QueryEscape(`{"room":{"include_leave":true}}`)
		body := bob.MustDo("GET", "/_matrix/client/v3/sync?full_state=true&filter="+filter, nil, nil)
		sec := rawRoomSection(t, body, "leave", room)
		if sec == nil {
			t.Fatalf("the rejected invite is missing from the leave section: %s", body)
		}
		var tl struct {
			Events []struct {
				Type     string         `json:"type"`
				StateKey string         `json:"state_key"`
				Content  map[string]any `json:"content"`
			} `json:"events"`
		}
		if err := json.Unmarshal(sec["timeline"], &tl); err != nil || len(tl.Events) == 0 {
			t.Fatalf("rejected invite timeline: %s", sec["timeline"])
		}
		last := tl.Events[len(tl.Events)-1]
		if last.Type != "m.room.member" || last.StateKey != bob.UserID || last.Content["membership"] != "leave" {
			t.Errorf("the timeline ends with %+v, want bob's rejection", last)
		}
		for _, e := range tl.Events {
			if e.Content["body"] == "before the invite" {
				t.Error("the rejected invite's timeline shows history from before bob was invited")
			}
		}
	})
}

// client-server-api /sync, Left Room: "state: The state updates for the
// room up to the start of the timeline." A room left shows in an initial
// sync with include_leave with its state and the timeline up to the leave,
// and with use_state_after its state_after ends with the leave.
func TestSync_LeftRoomCarriesStateAndTimelineUpToTheLeave(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "left behind"})
		bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
		bob.SendText(room, "bye")
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		alice.SendText(room, "after bob left")

		filter := url.QueryEscape(`{"room":{"include_leave":true,"timeline":{"limit":2}}}`)
		body := bob.MustDo("GET", "/_matrix/client/v3/sync?filter="+filter, nil, nil)
		sec := rawRoomSection(t, body, "leave", room)
		if sec == nil {
			t.Fatalf("the left room is missing from an initial sync with include_leave: %s", body)
		}
		if got := stateTypes(t, sec["state"]); !slices.Contains(got, "m.room.create") || !slices.Contains(got, "m.room.name") {
			t.Errorf("left room state = %v, want the room's state", got)
		}
		var tl struct {
			Events []struct {
				Type    string         `json:"type"`
				Content map[string]any `json:"content"`
			} `json:"events"`
		}
		if err := json.Unmarshal(sec["timeline"], &tl); err != nil || len(tl.Events) == 0 {
			t.Fatalf("left room timeline: %s", sec["timeline"])
		}
		last := tl.Events[len(tl.Events)-1]
		if last.Type != "m.room.member" || last.Content["membership"] != "leave" {
			t.Errorf("the left room's timeline ends with %+v, want bob's leave", last)
		}
		for _, e := range tl.Events {
			if e.Content["body"] == "after bob left" {
				t.Error("the left room's timeline shows what came after the leave")
			}
		}

		body = bob.MustDo("GET", "/_matrix/client/v3/sync?use_state_after=true&filter="+filter, nil, nil)
		sec = rawRoomSection(t, body, "leave", room)
		if _, ok := sec["state"]; ok {
			t.Error("left room with use_state_after carries state")
		}
		if got := stateTypes(t, sec["state_after"]); !slices.Contains(got, "m.room.member") {
			t.Errorf("left room state_after = %v, want the members up to the leave", got)
		}
	})
}
