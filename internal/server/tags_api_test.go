package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

func tagsPath(c *servertest.Client, roomID string) string {
	return "/_matrix/client/v3/user/" + url.PathEscape(c.UserID) + "/rooms/" + url.PathEscape(roomID) + "/tags"
}

func getTags(t *testing.T, c *servertest.Client, roomID string) map[string]map[string]any {
	t.Helper()
	var r struct {
		Tags map[string]map[string]any `json:"tags"`
	}
	c.MustDo("GET", tagsPath(c, roomID), nil, &r)
	return r.Tags
}

// roomAccountData is the room's account data events of one sync.
func roomAccountData(t *testing.T, c *servertest.Client, since, roomID string) (events []ev, next string) {
	t.Helper()
	var r struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join map[string]struct {
				AccountData struct {
					Events []json.RawMessage `json:"events"`
				} `json:"account_data"`
			} `json:"join"`
		} `json:"rooms"`
	}
	path := "/_matrix/client/v3/sync"
	if since != "" {
		path += "?timeout=5000&since=" + url.QueryEscape(since)
	}
	c.MustDo("GET", path, nil, &r)
	return decodeEvents(t, r.Rooms.Join[roomID].AccountData.Events), r.NextBatch
}

// client-server-api "Room Tagging": tags are set and removed per room,
// listed by GET, and reach /sync as the room's m.tag account data.
func TestTags_PutGetDeleteAndSync(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		if tags := getTags(t, alice, room); len(tags) != 0 {
			t.Fatalf("a room without tags: %v", tags)
		}
		_, since := roomAccountData(t, alice, "", room)

		alice.MustDo("PUT", tagsPath(alice, room)+"/m.favourite", map[string]any{"order": 0.25}, nil)
		alice.MustDo("PUT", tagsPath(alice, room)+"/u.work", map[string]any{}, nil)
		tags := getTags(t, alice, room)
		if len(tags) != 2 || tags["m.favourite"]["order"] != 0.25 || tags["u.work"] == nil {
			t.Fatalf("tags = %v", tags)
		}
		evs, since := roomAccountData(t, alice, since, room)
		if len(evs) != 1 || evs[0].Type != "m.tag" || !strings.Contains(string(evs[0].Content), `"m.favourite":{"order":0.25}`) ||
			!strings.Contains(string(evs[0].Content), `"u.work":{}`) {
			t.Fatalf("room account data in sync = %+v", evs)
		}

		alice.MustDo("DELETE", tagsPath(alice, room)+"/m.favourite", nil, nil)
		alice.MustDo("DELETE", tagsPath(alice, room)+"/never.set", nil, nil)
		if tags := getTags(t, alice, room); len(tags) != 1 || tags["u.work"] == nil {
			t.Errorf("after delete: %v", tags)
		}
		evs, _ = roomAccountData(t, alice, since, room)
		if len(evs) != 1 || string(evs[0].Content) != `{"tags":{"u.work":{}}}` {
			t.Errorf("sync after delete = %+v", evs)
		}
		if evs, _ := roomAccountData(t, alice, "", room); len(evs) != 1 || evs[0].Type != "m.tag" {
			t.Errorf("initial sync room account data = %+v", evs)
		}
	})
}

// Bad requests get clear errors.
func TestTags_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{})
		long := strings.Repeat("x", 256)
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"other user's tags", "GET", tagsPath(alice, room), nil, http.StatusForbidden, "M_FORBIDDEN"},
			{"set other user's tag", "PUT", tagsPath(alice, room) + "/u.x", map[string]any{}, http.StatusForbidden, "M_FORBIDDEN"},
			{"tag of 256 bytes", "PUT", tagsPath(bob, room) + "/" + long, map[string]any{}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"order not a number", "PUT", tagsPath(bob, room) + "/u.x", map[string]any{"order": "high"}, http.StatusBadRequest, "M_BAD_JSON"},
			{"body not an object", "PUT", tagsPath(bob, room) + "/u.x", []byte(`[1]`), http.StatusBadRequest, "M_BAD_JSON"},
			{"unknown room", "PUT", tagsPath(bob, "!nope:localhost") + "/u.x", map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
		} {
			status, raw := bob.Do(tc.method, tc.path, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		// 255 bytes is allowed.
		bob.MustDo("PUT", tagsPath(bob, room)+"/"+long[:255], map[string]any{}, nil)
	})
}
