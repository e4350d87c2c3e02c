package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

type eventReports struct {
	Reports []struct {
		ID             int64          `json:"id"`
		EventID        string         `json:"event_id"`
		RoomID         string         `json:"room_id"`
		UserID         string         `json:"user_id"`
		Sender         string         `json:"sender"`
		Reason         *string        `json:"reason"`
		Score          *int64         `json:"score"`
		Name           *string        `json:"name"`
		ReceivedTS     int64          `json:"received_ts"`
		EventJSON      map[string]any `json:"event_json"`
		CanonicalAlias *string        `json:"canonical_alias"`
	} `json:"event_reports"`
	NextToken *int  `json:"next_token"`
	Total     int64 `json:"total"`
}

const eventReportsPath = "/_synapse/admin/v1/event_reports"

// client-server-api "Reporting Content": a member reports an event, the
// admin API lists it with the room's name and the event's sender, shows
// it with the event, and deletes it.
func TestReports_EventReportReachesTheAdminAPI(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		alice.MustDo("PUT", servertest.Room(room)+"/state/m.room.name/", map[string]any{"name": "Garden"}, nil)
		msg := alice.SendText(room, "rude words")
		bob.MustDo("POST", servertest.Room(room)+"/report/"+url.PathEscape(msg), map[string]any{"reason": "rude", "score": -100}, nil)

		var list eventReports
		admin.MustDo("GET", eventReportsPath, nil, &list)
		if list.Total != 1 || len(list.Reports) != 1 || list.NextToken != nil {
			t.Fatalf("event reports = %+v", list)
		}
		r := list.Reports[0]
		if r.EventID != msg || r.RoomID != room || r.UserID != bob.UserID || r.Sender != alice.UserID ||
			r.Reason == nil || *r.Reason != "rude" || r.Score == nil || *r.Score != -100 || r.Name == nil || *r.Name != "Garden" || r.ReceivedTS == 0 {
			t.Errorf("report = %+v", r)
		}
		var one struct {
			ID        int64          `json:"id"`
			EventJSON map[string]any `json:"event_json"`
		}
		admin.MustDo("GET", fmt.Sprintf("%s/%d", eventReportsPath, r.ID), nil, &one)
		if one.ID != r.ID || one.EventJSON["event_id"] != nil && one.EventJSON["event_id"] != msg || one.EventJSON["sender"] != alice.UserID {
			t.Errorf("one report = %+v", one)
		}
		admin.MustDo("DELETE", fmt.Sprintf("%s/%d", eventReportsPath, r.ID), nil, nil)
		if status, raw := admin.Do("GET", fmt.Sprintf("%s/%d", eventReportsPath, r.ID), nil, nil); status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("deleted report: %d %s", status, raw)
		}
		if status, raw := admin.Do("DELETE", fmt.Sprintf("%s/%d", eventReportsPath, r.ID), nil, nil); status != http.StatusNotFound {
			t.Errorf("deleting it again: %d %s", status, raw)
		}
		if status, raw := admin.Do("GET", eventReportsPath+"/abc", nil, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("report ID abc: %d %s", status, raw)
		}
		if status, _ := bob.Do("GET", eventReportsPath, nil, nil); status != http.StatusForbidden {
			t.Errorf("a non-admin listed reports: %d", status)
		}
	})
}

// Synapse's event_reports paging and filters: newest first by default,
// dir=f, from/limit with next_token, room_id and user_id substrings.
func TestReports_AdminListPagesAndFilters(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		r1 := sharedRoom(t, alice, bob, carol)
		r2 := sharedRoom(t, alice, bob)
		var sent []string
		for i, c := range []struct {
			who  *servertest.Client
			room string
		}{{bob, r1}, {carol, r1}, {bob, r2}} {
			ev := alice.SendText(c.room, fmt.Sprint("m", i))
			sent = append(sent, ev)
			c.who.MustDo("POST", servertest.Room(c.room)+"/report/"+url.PathEscape(ev), map[string]any{}, nil)
		}
		var all eventReports
		admin.MustDo("GET", eventReportsPath, nil, &all)
		if all.Total != 3 || len(all.Reports) != 3 || all.Reports[0].EventID != sent[2] || all.Reports[2].EventID != sent[0] {
			t.Fatalf("newest first: %+v", all)
		}
		var page eventReports
		admin.MustDo("GET", eventReportsPath+"?dir=f&limit=2", nil, &page)
		if len(page.Reports) != 2 || page.Reports[0].EventID != sent[0] || page.NextToken == nil || *page.NextToken != 2 {
			t.Fatalf("first page forwards: %+v", page)
		}
		var last eventReports
		admin.MustDo("GET", eventReportsPath+"?dir=f&limit=2&from=2", nil, &last)
		if len(last.Reports) != 1 || last.Reports[0].EventID != sent[2] || last.NextToken != nil {
			t.Fatalf("second page forwards: %+v", last)
		}
		var byUser eventReports
		admin.MustDo("GET", eventReportsPath+"?user_id="+url.QueryEscape("carol"), nil, &byUser)
		if byUser.Total != 1 || byUser.Reports[0].EventID != sent[1] {
			t.Errorf("user_id=carol: %+v", byUser)
		}
		var byRoom eventReports
		admin.MustDo("GET", eventReportsPath+"?room_id="+url.QueryEscape(r2), nil, &byRoom)
		if byRoom.Total != 1 || byRoom.Reports[0].EventID != sent[2] {
			t.Errorf("room_id=r2: %+v", byRoom)
		}
		for _, q := range []string{"dir=x", "from=-1", "limit=abc"} {
			if status, raw := admin.Do("GET", eventReportsPath+"?"+q, nil, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("%s: %d %s", q, status, raw)
			}
		}
	})
}

// report_content.yaml: 404 when the event is not found or the reporter is
// not joined to the room (spec v1.8), so that non-members cannot probe
// event IDs; bad scores and reasons are refused.
func TestReports_EventReportNeedsAJoinedReporterWhoSeesTheEvent(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		room := sharedRoom(t, alice, bob)
		msg := alice.SendText(room, "hello")
		other := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		elsewhere := alice.SendText(other, "elsewhere")
		redacted := alice.SendText(room, "oops")
		alice.MustDo("PUT", servertest.Room(room)+"/redact/"+url.PathEscape(redacted)+"/t1", map[string]any{}, nil)
		report := func(c *servertest.Client, roomID, eventID string, body any) (int, []byte) {
			return c.Do("POST", servertest.Room(roomID)+"/report/"+url.PathEscape(eventID), body, nil)
		}
		for _, tc := range []struct {
			name          string
			c             *servertest.Client
			room, eventID string
			body          any
			status        int
			code          string
		}{
			{"not joined", eve, room, msg, map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"unknown event", bob, room, "$nope", map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"event of another room", bob, room, elsewhere, map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"redacted event", bob, room, redacted, map[string]any{}, http.StatusNotFound, "M_NOT_FOUND"},
			{"score out of range", bob, room, msg, map[string]any{"score": 5}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"score not an integer", bob, room, msg, map[string]any{"score": "bad"}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"reason not a string", bob, room, msg, map[string]any{"reason": 3}, http.StatusBadRequest, "M_BAD_JSON"},
		} {
			if status, raw := report(tc.c, tc.room, tc.eventID, tc.body); status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		// Leaving ends the right to report.
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		if status, _ := report(bob, room, msg, map[string]any{}); status != http.StatusNotFound {
			t.Errorf("a member who left reported an event: %d", status)
		}
	})
}

// Spec v1.13 and v1.14: rooms and users are reported without sharing a
// room; unknown rooms and local users are 404; reason is required.
func TestReports_RoomAndUserReports(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, eve := s.Register("alice"), s.Register("eve")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		eve.MustDo("POST", servertest.Room(room)+"/report", map[string]any{"reason": "spam"}, nil)
		eve.MustDo("POST", "/_matrix/client/v3/users/"+url.PathEscape(alice.UserID)+"/report", map[string]any{"reason": ""}, nil)
		eve.MustDo("POST", "/_matrix/client/v3/users/"+url.PathEscape("@someone:elsewhere.example")+"/report", map[string]any{"reason": "x"}, nil)
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			code       string
		}{
			{"unknown room", servertest.Room("!nope:localhost") + "/report", map[string]any{"reason": "x"}, http.StatusNotFound, "M_NOT_FOUND"},
			{"unknown local user", "/_matrix/client/v3/users/" + url.PathEscape("@nobody:localhost") + "/report", map[string]any{"reason": "x"}, http.StatusNotFound, "M_NOT_FOUND"},
			{"room report without reason", servertest.Room(room) + "/report", map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"user report without reason", "/_matrix/client/v3/users/" + url.PathEscape(alice.UserID) + "/report", map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"not a user ID", "/_matrix/client/v3/users/alice/report", map[string]any{"reason": "x"}, http.StatusBadRequest, "M_INVALID_PARAM"},
		} {
			if status, raw := eve.Do("POST", tc.path, tc.body, nil); status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
	})
}

// Synapse's rc_reports bounds how fast a user reports.
func TestReports_RateLimited(t *testing.T) {
	eachServerWithYAML(t, "rc_reports: {per_second: 0.001, burst_count: 2}\n", func(t *testing.T, s *servertest.Server) {
		alice, eve := s.Register("alice"), s.Register("eve")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		for range 2 {
			eve.MustDo("POST", servertest.Room(room)+"/report", map[string]any{"reason": "spam"}, nil)
		}
		if status, raw := eve.Do("POST", servertest.Room(room)+"/report", map[string]any{"reason": "spam"}, nil); status != http.StatusTooManyRequests || servertest.Errcode(raw) != "M_LIMIT_EXCEEDED" {
			t.Errorf("third report: %d %s", status, raw)
		}
	})
}
