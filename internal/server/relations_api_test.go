package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// sendEvent sends an event of type typ with content and returns its ID.
func sendEvent(c *servertest.Client, roomID, typ string, content map[string]any) string {
	var resp struct {
		EventID string `json:"event_id"`
	}
	c.MustDo("PUT", servertest.Room(roomID)+"/send/"+url.PathEscape(typ)+"/"+url.PathEscape(txnFor(content)), content, &resp)
	return resp.EventID
}

var txnCounter atomic.Int64

// txnFor returns a fresh transaction ID.
func txnFor(map[string]any) string {
	return "rel" + strconv.FormatInt(txnCounter.Add(1), 10)
}

func relatesTo(relType, eventID string) map[string]any {
	return map[string]any{"rel_type": relType, "event_id": eventID}
}

func edit(c *servertest.Client, roomID, original, body string) string {
	return sendEvent(c, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": "* " + body,
		"m.new_content": map[string]any{"msgtype": "m.text", "body": body}, "m.relates_to": relatesTo("m.replace", original)})
}

func threadReply(c *servertest.Client, roomID, root, body string) string {
	return sendEvent(c, roomID, "m.room.message", map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": relatesTo("m.thread", root)})
}

func redactEvent(c *servertest.Client, roomID, eventID string) {
	c.MustDo("PUT", servertest.Room(roomID)+"/redact/"+url.PathEscape(eventID)+"/"+txnFor(nil), map[string]any{}, nil)
}

// relEvent is a served event with the parts of unsigned.m.relations the
// tests read.
type relEvent struct {
	EventID  string          `json:"event_id"`
	Content  json.RawMessage `json:"content"`
	Unsigned struct {
		Relations *struct {
			Thread *struct {
				LatestEvent             *relEvent `json:"latest_event"`
				Count                   int       `json:"count"`
				CurrentUserParticipated bool      `json:"current_user_participated"`
			} `json:"m.thread"`
			Replace   *relEvent `json:"m.replace"`
			Reference *struct {
				Chunk []struct {
					EventID string `json:"event_id"`
				} `json:"chunk"`
			} `json:"m.reference"`
		} `json:"m.relations"`
	} `json:"unsigned"`
}

func (e relEvent) replaceID() string {
	if r := e.Unsigned.Relations; r != nil && r.Replace != nil {
		return r.Replace.EventID
	}
	return ""
}

func (e relEvent) threadSummary() (latest string, count int, participated bool) {
	if r := e.Unsigned.Relations; r != nil && r.Thread != nil {
		return r.Thread.LatestEvent.EventID, r.Thread.Count, r.Thread.CurrentUserParticipated
	}
	return "", 0, false
}

func getRelEvent(t testing.TB, c *servertest.Client, roomID, eventID string) relEvent {
	t.Helper()
	var e relEvent
	c.MustDo("GET", servertest.Room(roomID)+"/event/"+url.PathEscape(eventID), nil, &e)
	return e
}

// client-server-api "Aggregations of child events", event_replacements.md
// and threading.md: an event is served with the most recent valid edit
// (same sender, same type, with m.new_content; never for an edit or a
// redacted original), its thread's latest reply (with that reply's own
// edit), count and the reader's participation, and the events
// referencing it. Redacting an edit or a reply breaks its relationship.
func TestRelationsAPI_BundledAggregationsFollowTheSpecsRules(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		root := alice.SendText(room, "I like cake")
		edit1 := edit(alice, room, root, "I like chocolate cake")
		edit2 := edit(alice, room, root, "I like lemon cake")
		edit(bob, room, root, "bob may not edit alice's message")
		sendEvent(alice, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "no new content",
			"m.relates_to": relatesTo("m.replace", root)})
		sendEvent(alice, room, "org.example.other", map[string]any{"body": "another type",
			"m.new_content": map[string]any{"body": "x"}, "m.relates_to": relatesTo("m.replace", root)})
		editOfEdit := edit(alice, room, edit2, "edits of edits are not edits")
		r1 := threadReply(bob, room, root, "reply one")
		r2 := threadReply(alice, room, root, "reply two")
		r2edit := edit(alice, room, r2, "reply two, edited")
		ref := sendEvent(bob, room, "m.room.message", map[string]any{"msgtype": "m.text", "body": "see above",
			"m.relates_to": relatesTo("m.reference", root)})

		got := getRelEvent(t, bob, room, root)
		if got.replaceID() != edit2 {
			t.Errorf("m.replace %q, want the latest valid edit %s", got.replaceID(), edit2)
		}
		if r := got.Unsigned.Relations; r != nil && r.Replace != nil && string(r.Replace.Content) == "" {
			t.Error("the bundled edit is not the whole replacement event")
		}
		latest, count, participated := got.threadSummary()
		if latest != r2 || count != 2 || !participated {
			t.Errorf("m.thread latest %s count %d participated %v, want %s 2 true", latest, count, participated, r2)
		}
		if lt := got.Unsigned.Relations.Thread.LatestEvent; lt.replaceID() != r2edit {
			t.Errorf("the latest reply's own m.replace %q, want %s", lt.replaceID(), r2edit)
		}
		if r := got.Unsigned.Relations.Reference; r == nil || len(r.Chunk) != 1 || r.Chunk[0].EventID != ref {
			t.Errorf("m.reference %+v, want [%s]", r, ref)
		}
		if _, _, p := getRelEvent(t, carol, room, root).threadSummary(); p {
			t.Error("carol, who neither started nor replied to the thread, participated")
		}
		if id := getRelEvent(t, alice, room, edit2).replaceID(); id != "" {
			t.Errorf("an edit was bundled with an edit: %s (%s)", id, editOfEdit)
		}

		// /messages bundles too.
		var msgs struct {
			Chunk []relEvent `json:"chunk"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b&limit=50", nil, &msgs)
		for _, e := range msgs.Chunk {
			if e.EventID == root && e.replaceID() != edit2 {
				t.Errorf("/messages: root's m.replace %q", e.replaceID())
			}
		}

		// Redacting the latest edit and reply: the ones before them count.
		redactEvent(alice, room, edit2)
		redactEvent(alice, room, r2)
		got = getRelEvent(t, bob, room, root)
		if got.replaceID() != edit1 {
			t.Errorf("after redacting the latest edit: m.replace %q, want %s", got.replaceID(), edit1)
		}
		if latest, count, _ := got.threadSummary(); latest != r1 || count != 1 {
			t.Errorf("after redacting the latest reply: latest %s count %d, want %s 1", latest, count, r1)
		}
		// A redacted original has no edits bundled; its thread stays.
		redactEvent(alice, room, root)
		got = getRelEvent(t, bob, room, root)
		if got.replaceID() != "" {
			t.Errorf("a redacted original was bundled with edit %s", got.replaceID())
		}
		if latest, _, _ := got.threadSummary(); latest != r1 {
			t.Errorf("a redacted root lost its thread: latest %q", latest)
		}
	})
}

// client-server-api "Aggregations of child events": /sync bundles when the
// timeline is limited.
func TestRelationsAPI_LimitedSyncTimelinesAreBundled(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		root := alice.SendText(room, "root")
		reply := threadReply(bob, room, root, "reply")
		filter := url.QueryEscape(`{"room":{"timeline":{"limit":2}}}`)
		var resp struct {
			Rooms struct {
				Join map[string]struct {
					Timeline struct {
						Limited bool       `json:"limited"`
						Events  []relEvent `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/sync?filter="+filter, nil, &resp)
		tl := resp.Rooms.Join[room].Timeline
		if !tl.Limited || len(tl.Events) != 2 || tl.Events[0].EventID != root {
			t.Fatalf("timeline %+v", tl)
		}
		if latest, count, participated := tl.Events[0].threadSummary(); latest != reply || count != 1 || !participated {
			t.Errorf("root's m.thread in /sync: %s %d %v", latest, count, participated)
		}
	})
}

type relationsPage struct {
	Chunk          []relEvent `json:"chunk"`
	NextBatch      string     `json:"next_batch"`
	PrevBatch      string     `json:"prev_batch"`
	RecursionDepth *int       `json:"recursion_depth"`
}

func ids(evs []relEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out
}

func relationsPath(room, parent, rest string) string {
	return "/_matrix/client/v1/rooms/" + url.PathEscape(room) + "/relations/" + url.PathEscape(parent) + rest
}

// relations.yaml: children newest first by default, paginated with
// next_batch, filtered by rel_type and event type, dir=f oldest first,
// recurse following children of children; 404 when the reader cannot see
// the parent.
func TestRelationsAPI_RelationsPaginateFilterAndRecurse(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		room := sharedRoom(t, alice, bob)
		root := alice.SendText(room, "root")
		var replies []string
		for i := 0; i < 5; i++ {
			replies = append(replies, threadReply(bob, room, root, "reply"))
		}
		ann := sendEvent(alice, room, "m.reaction", map[string]any{"m.relates_to": map[string]any{
			"rel_type": "m.annotation", "event_id": replies[0], "key": "👍"}})

		var p relationsPage
		bob.MustDo("GET", relationsPath(room, root, "?limit=3"), nil, &p)
		if got := ids(p.Chunk); len(got) != 3 || got[0] != replies[4] || got[2] != replies[2] || p.NextBatch == "" || p.RecursionDepth != nil {
			t.Fatalf("first page %v next %q depth %v", got, p.NextBatch, p.RecursionDepth)
		}
		var p2 relationsPage
		bob.MustDo("GET", relationsPath(room, root, "?limit=3&from="+url.QueryEscape(p.NextBatch)), nil, &p2)
		if got := ids(p2.Chunk); len(got) != 2 || got[0] != replies[1] || got[1] != replies[0] || p2.NextBatch != "" || p2.PrevBatch != p.NextBatch {
			t.Fatalf("second page %v next %q prev %q", got, p2.NextBatch, p2.PrevBatch)
		}
		var fwd relationsPage
		bob.MustDo("GET", relationsPath(room, root, "/m.thread/m.room.message?dir=f&limit=2"), nil, &fwd)
		if got := ids(fwd.Chunk); len(got) != 2 || got[0] != replies[0] || got[1] != replies[1] {
			t.Errorf("dir=f: %v", got)
		}
		var none relationsPage
		bob.MustDo("GET", relationsPath(room, root, "/m.annotation"), nil, &none)
		if len(none.Chunk) != 0 {
			t.Errorf("annotations of the root: %v", ids(none.Chunk))
		}
		var rec relationsPage
		bob.MustDo("GET", relationsPath(room, root, "/m.annotation?recurse=true"), nil, &rec)
		if got := ids(rec.Chunk); len(got) != 1 || got[0] != ann || rec.RecursionDepth == nil || *rec.RecursionDepth != 3 {
			t.Errorf("recurse: %v depth %v", got, rec.RecursionDepth)
		}

		for _, c := range []struct {
			who    *servertest.Client
			path   string
			status int
			code   string
		}{
			{eve, relationsPath(room, root, ""), http.StatusNotFound, "M_NOT_FOUND"},
			{bob, relationsPath(room, "$unknown", ""), http.StatusNotFound, "M_NOT_FOUND"},
			{bob, relationsPath(room, root, "?dir=sideways"), http.StatusBadRequest, "M_INVALID_PARAM"},
			{bob, relationsPath(room, root, "?limit=-1"), http.StatusBadRequest, "M_INVALID_PARAM"},
			{bob, relationsPath(room, root, "?recurse=maybe"), http.StatusBadRequest, "M_INVALID_PARAM"},
			{bob, relationsPath(room, root, "?from=garbage"), http.StatusBadRequest, "M_INVALID_PARAM"},
		} {
			status, raw := c.who.Do("GET", c.path, nil, nil)
			if status != c.status || servertest.Errcode(raw) != c.code {
				t.Errorf("GET %s as %s: %d %s, want %d %s", c.path, c.who.UserID, status, raw, c.status, c.code)
			}
		}
	})
}

// A member who joined a room whose history is visible only from joining
// cannot page the relations of an event sent before they joined.
func TestRelationsAPI_ParentsBeforeTheReadersHistoryAreNotFound(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat",
			"initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
		root := alice.SendText(room, "before bob")
		threadReply(alice, room, root, "also before bob")
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
		status, raw := bob.Do("GET", relationsPath(room, root, ""), nil, nil)
		if status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("%d %s, want 404 M_NOT_FOUND", status, raw)
		}
	})
}

type threadsPage struct {
	Chunk     []relEvent `json:"chunk"`
	NextBatch string     `json:"next_batch"`
}

func threadsPath(room, query string) string {
	return "/_matrix/client/v1/rooms/" + url.PathEscape(room) + "/threads" + query
}

// threads_list.yaml: thread roots, the latest activity first, with their
// bundled aggregation; include=participated keeps the reader's threads;
// next_batch pages.
func TestRelationsAPI_ThreadsListOrdersByLatestActivity(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, eve := s.Register("alice"), s.Register("bob"), s.Register("eve")
		room := sharedRoom(t, alice, bob)
		a := alice.SendText(room, "thread a")
		b := bob.SendText(room, "thread b")
		c := alice.SendText(room, "thread c")
		alice.SendText(room, "no thread")
		threadReply(alice, room, a, "a1")
		threadReply(alice, room, c, "c1")
		threadReply(alice, room, b, "b1")
		aLatest := threadReply(alice, room, a, "a2")

		var p threadsPage
		bob.MustDo("GET", threadsPath(room, "?limit=2"), nil, &p)
		if got := ids(p.Chunk); len(got) != 2 || got[0] != a || got[1] != b || p.NextBatch == "" {
			t.Fatalf("first page %v next %q", got, p.NextBatch)
		}
		if latest, count, _ := p.Chunk[0].threadSummary(); latest != aLatest || count != 2 {
			t.Errorf("thread a's aggregation: %s %d", latest, count)
		}
		var p2 threadsPage
		bob.MustDo("GET", threadsPath(room, "?limit=2&from="+url.QueryEscape(p.NextBatch)), nil, &p2)
		if got := ids(p2.Chunk); len(got) != 1 || got[0] != c {
			t.Errorf("second page %v", got)
		}
		var part threadsPage
		bob.MustDo("GET", threadsPath(room, "?include=participated"), nil, &part)
		if got := ids(part.Chunk); len(got) != 1 || got[0] != b {
			t.Errorf("bob participated in %v, want only the thread he started", got)
		}
		for _, c := range []struct {
			who    *servertest.Client
			query  string
			status int
			code   string
		}{
			{eve, "", http.StatusForbidden, "M_FORBIDDEN"},
			{bob, "?include=some", http.StatusBadRequest, "M_INVALID_PARAM"},
			{bob, "?limit=0", http.StatusBadRequest, "M_INVALID_PARAM"},
			{bob, "?from=garbage", http.StatusBadRequest, "M_INVALID_PARAM"},
		} {
			status, raw := c.who.Do("GET", threadsPath(room, c.query), nil, nil)
			if status != c.status || servertest.Errcode(raw) != c.code {
				t.Errorf("threads%s as %s: %d %s, want %d %s", c.query, c.who.UserID, status, raw, c.status, c.code)
			}
		}
	})
}

// client-server-api "Ignoring Users": a thread started by a user the
// reader ignores is left out of /threads (as Synapse's event filter does),
// and paging goes on past it; un-ignoring shows it again.
func TestRelationsAPI_ThreadsLeaveOutRootsOfIgnoredUsers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		a := alice.SendText(room, "alice's thread")
		c := carol.SendText(room, "carol's thread")
		threadReply(alice, room, a, "a1")
		threadReply(bob, room, c, "c1")
		ignoreUsers(t, bob, carol.UserID)

		var p threadsPage
		bob.MustDo("GET", threadsPath(room, "?limit=1"), nil, &p)
		if got := ids(p.Chunk); len(got) != 0 || p.NextBatch == "" {
			t.Fatalf("first page %v next %q, want carol's thread left out and a next page", got, p.NextBatch)
		}
		var p2 threadsPage
		bob.MustDo("GET", threadsPath(room, "?limit=1&from="+url.QueryEscape(p.NextBatch)), nil, &p2)
		if got := ids(p2.Chunk); len(got) != 1 || got[0] != a {
			t.Errorf("second page %v, want alice's thread", got)
		}
		var part threadsPage
		bob.MustDo("GET", threadsPath(room, "?include=participated"), nil, &part)
		if got := ids(part.Chunk); len(got) != 0 {
			t.Errorf("participated threads %v: carol's is ignored", got)
		}
		ignoreUsers(t, bob)
		var all threadsPage
		bob.MustDo("GET", threadsPath(room, ""), nil, &all)
		if got := ids(all.Chunk); len(got) != 2 || got[0] != c || got[1] != a {
			t.Errorf("after un-ignoring: %v", got)
		}
	})
}

// MSC3440's filter fields, as Synapse serves them on /messages:
// related_by_rel_types keeps events related to by those rel_types,
// related_by_senders events related to by those senders.
func TestRelationsAPI_MessagesFilterByRelatedEvents(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		a := alice.SendText(room, "bob's thread")
		b := alice.SendText(room, "alice's thread")
		edited := alice.SendText(room, "edited")
		threadReply(bob, room, a, "bob replies")
		threadReply(alice, room, b, "alice replies")
		edit(alice, room, edited, "edited!")
		get := func(filter string) []string {
			t.Helper()
			var msgs struct {
				Chunk []relEvent `json:"chunk"`
			}
			bob.MustDo("GET", servertest.Room(room)+"/messages?dir=f&limit=100&filter="+url.QueryEscape(filter), nil, &msgs)
			return ids(msgs.Chunk)
		}
		if got := get(`{"related_by_rel_types":["m.thread"]}`); len(got) != 2 || got[0] != a || got[1] != b {
			t.Errorf("related by m.thread: %v, want [%s %s]", got, a, b)
		}
		if got := get(`{"related_by_rel_types":["m.thread"],"related_by_senders":["` + bob.UserID + `"]}`); len(got) != 1 || got[0] != a {
			t.Errorf("related by bob's m.thread: %v, want [%s]", got, a)
		}
		if got := get(`{"related_by_senders":["` + alice.UserID + `"]}`); len(got) != 2 || got[0] != b || got[1] != edited {
			t.Errorf("related by alice: %v, want [%s %s]", got, b, edited)
		}
	})
}
