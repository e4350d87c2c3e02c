package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type searchEvent struct {
	EventID string          `json:"event_id"`
	RoomID  string          `json:"room_id"`
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

type searchResults struct {
	Count      int      `json:"count"`
	Highlights []string `json:"highlights"`
	Results    []struct {
		Rank    float64     `json:"rank"`
		Result  searchEvent `json:"result"`
		Context *struct {
			Start        string                       `json:"start"`
			End          string                       `json:"end"`
			ProfileInfo  map[string]map[string]string `json:"profile_info"`
			EventsBefore []searchEvent                `json:"events_before"`
			EventsAfter  []searchEvent                `json:"events_after"`
		} `json:"context"`
	} `json:"results"`
	State  map[string][]searchEvent `json:"state"`
	Groups map[string]map[string]struct {
		NextBatch string   `json:"next_batch"`
		Order     int      `json:"order"`
		Results   []string `json:"results"`
	} `json:"groups"`
	NextBatch string `json:"next_batch"`
}

func (r searchResults) ids() []string {
	out := []string{}
	for _, x := range r.Results {
		out = append(out, x.Result.EventID)
	}
	return out
}

// searchFor posts a room_events search with criteria (search_term added)
// and returns its results.
func searchFor(t *testing.T, c *servertest.Client, term string, criteria map[string]any, nextBatch string) searchResults {
	t.Helper()
	re := map[string]any{"search_term": term}
	for k, v := range criteria {
		re[k] = v
	}
	path := "/_matrix/client/v3/search"
	if nextBatch != "" {
		path += "?next_batch=" + url.QueryEscape(nextBatch)
	}
	var resp struct {
		Categories struct {
			RoomEvents searchResults `json:"room_events"`
		} `json:"search_categories"`
	}
	c.MustDo("POST", path, map[string]any{"search_categories": map[string]any{"room_events": re}}, &resp)
	return resp.Categories.RoomEvents
}

// client-server-api "Server Side Search": a member finds the messages of
// the rooms they are in, ranked or newest first, with the search words as
// highlights and a count; rooms they never joined are not searched.
func TestSearchAPI_FindsMessagesOfTheUsersRooms(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		weak := alice.SendText(room, "the launch of the rocket is delayed until further notice by the weather")
		strong := bob.SendText(room, "Rocket rocket rocket!")
		alice.SendText(room, "unrelated chatter")
		private := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "rocket lab"})
		alice.SendText(private, "secret rocket plans")

		res := searchFor(t, bob, "ROCKET", nil, "")
		if !slices.Equal(res.ids(), []string{strong, weak}) {
			t.Fatalf("by rank: %v, want %v", res.ids(), []string{strong, weak})
		}
		if res.Results[0].Rank <= res.Results[1].Rank {
			t.Errorf("ranks %v then %v: higher must be closer", res.Results[0].Rank, res.Results[1].Rank)
		}
		if res.Count != 2 || !slices.Equal(res.Highlights, []string{"ROCKET"}) || res.NextBatch != "" {
			t.Errorf("count %d, highlights %v, next_batch %q", res.Count, res.Highlights, res.NextBatch)
		}
		r := res.Results[0].Result
		if r.RoomID != room || r.Sender != bob.UserID || r.Type != "m.room.message" {
			t.Errorf("result event %+v", r)
		}
		res = searchFor(t, bob, "rocket", map[string]any{"order_by": "recent"}, "")
		if !slices.Equal(res.ids(), []string{strong, weak}) {
			t.Fatalf("by recent: %v", res.ids())
		}
		// The room's name is searched as content.name, for its members.
		res = searchFor(t, alice, "lab", nil, "")
		if len(res.Results) != 1 || res.Results[0].Result.Type != "m.room.name" {
			t.Fatalf("alice's search for the room name: %+v", res.Results)
		}
		res = searchFor(t, alice, "rocket", map[string]any{"keys": []string{"content.name"}}, "")
		if len(res.Results) != 1 || res.Results[0].Result.Type != "m.room.name" {
			t.Fatalf("keys content.name: %+v", res.Results)
		}
	})
}

// search.md: "including those that they have left ... it won't include
// events in rooms that happened after you left"; and history visibility
// applies to each result.
func TestSearchAPI_LeftRoomsAndHistoryVisibility(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		before := alice.SendText(room, "comet before leaving")
		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		alice.SendText(room, "comet after leaving")
		if got := searchFor(t, bob, "comet", nil, "").ids(); !slices.Equal(got, []string{before}) {
			t.Fatalf("bob after leaving found %v, want only %s", got, before)
		}

		joinedOnly := alice.CreateRoom(map[string]any{"preset": "public_chat", "initial_state": []any{
			map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
		alice.SendText(joinedOnly, "nebula before bob")
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(joinedOnly), map[string]any{}, nil)
		after := alice.SendText(joinedOnly, "nebula after bob")
		if got := searchFor(t, bob, "nebula", nil, "").ids(); !slices.Equal(got, []string{after}) {
			t.Fatalf("bob found %v in a joined-only room, want only %s", got, after)
		}
	})
}

// search.md "Pagination" and "Groups": next_batch pages through every
// result once; groups partition them by room and sender, and a group's
// next_batch continues within the group.
func TestSearchAPI_PaginationAndGroups(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		r1, r2 := sharedRoom(t, alice, bob), sharedRoom(t, alice, bob)
		var all, inR2 []string
		for i := range 9 {
			room, who := r1, alice
			if i%3 == 0 {
				room, who = r2, bob
			}
			id := who.SendText(room, "galaxy number "+string(rune('a'+i)))
			all = append(all, id)
			if room == r2 {
				inR2 = append(inR2, id)
			}
		}
		for _, order := range []string{"rank", "recent"} {
			criteria := map[string]any{"order_by": order, "filter": map[string]any{"limit": 4},
				"groupings": map[string]any{"group_by": []any{map[string]any{"key": "room_id"}, map[string]any{"key": "sender"}}}}
			var seen []string
			next := ""
			for page := 0; ; page++ {
				if page > 5 {
					t.Fatal("pagination does not end")
				}
				res := searchFor(t, bob, "galaxy", criteria, next)
				seen = append(seen, res.ids()...)
				grouped := 0
				for _, g := range res.Groups["room_id"] {
					grouped += len(g.Results)
				}
				if grouped != len(res.Results) || len(res.Groups["sender"]) == 0 {
					t.Fatalf("%s: groups %+v for %d results", order, res.Groups, len(res.Results))
				}
				if len(res.Results) > 0 && res.Groups["room_id"][res.Results[0].Result.RoomID].Order != 1 {
					t.Errorf("%s: the first result's group is not order 1: %+v", order, res.Groups["room_id"])
				}
				if page == 0 {
					// Within r2 only, from the first page's end.
					g := res.Groups["room_id"][r2]
					if g.NextBatch == "" {
						t.Fatalf("%s: no next_batch in r2's group", order)
					}
					more := searchFor(t, bob, "galaxy", criteria, g.NextBatch)
					for _, x := range more.Results {
						if x.Result.RoomID != r2 {
							t.Errorf("%s: r2's group token returned an event of %s", order, x.Result.RoomID)
						}
					}
					if got := len(g.Results) + len(more.Results); got != len(inR2) {
						t.Errorf("%s: r2's group held %d and continued with %d; r2 has %d", order, len(g.Results), len(more.Results), len(inR2))
					}
				}
				if res.NextBatch == "" {
					break
				}
				next = res.NextBatch
			}
			slices.Sort(seen)
			want := slices.Clone(all)
			slices.Sort(want)
			if !slices.Equal(seen, want) {
				t.Errorf("%s: pages returned %v, want each of %v once", order, seen, want)
			}
		}
		// A token of one order cannot continue the other.
		res := searchFor(t, bob, "galaxy", map[string]any{"order_by": "recent", "filter": map[string]any{"limit": 1}}, "")
		status, raw := bob.Do("POST", "/_matrix/client/v3/search?next_batch="+url.QueryEscape(res.NextBatch),
			map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "galaxy"}}}, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("a recent token on a rank search: %d %s", status, raw)
		}
	})
}

// search.yaml event_context and include_state: the events around each
// result with pagination tokens, the senders' profiles, and each result
// room's current state.
func TestSearchAPI_ContextProfilesAndState(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		bob.MustDo("PUT", servertest.Room(room)+"/state/m.room.member/"+url.PathEscape(bob.UserID),
			map[string]any{"membership": "join", "displayname": "Bobby"}, nil)
		b1 := alice.SendText(room, "first")
		hit := bob.SendText(room, "the quasar")
		a1 := alice.SendText(room, "after one")
		alice.SendText(room, "after two")
		res := searchFor(t, bob, "quasar", map[string]any{"include_state": true,
			"event_context": map[string]any{"before_limit": 1, "after_limit": 1, "include_profile": true}}, "")
		if len(res.Results) != 1 || res.Results[0].Context == nil {
			t.Fatalf("results %+v", res.Results)
		}
		c := res.Results[0].Context
		if res.Results[0].Result.EventID != hit || len(c.EventsBefore) != 1 || c.EventsBefore[0].EventID != b1 ||
			len(c.EventsAfter) != 1 || c.EventsAfter[0].EventID != a1 {
			t.Fatalf("context %+v", c)
		}
		if c.Start == "" || c.End == "" {
			t.Errorf("context tokens %q %q", c.Start, c.End)
		}
		// The tokens page on from the context with /messages.
		var page struct {
			Chunk []searchEvent `json:"chunk"`
		}
		bob.MustDo("GET", servertest.Room(room)+"/messages?dir=f&limit=1&from="+url.QueryEscape(c.End), nil, &page)
		if len(page.Chunk) != 1 || page.Chunk[0].EventID == a1 {
			t.Errorf("/messages from the context's end: %+v", page.Chunk)
		}
		if p := c.ProfileInfo[bob.UserID]; p["displayname"] != "Bobby" {
			t.Errorf("profile_info %+v", c.ProfileInfo)
		}
		if _, ok := c.ProfileInfo[alice.UserID]; !ok {
			t.Errorf("profile_info lacks the context's other sender: %+v", c.ProfileInfo)
		}
		var hasCreate bool
		for _, e := range res.State[room] {
			hasCreate = hasCreate || e.Type == "m.room.create"
		}
		if !hasCreate {
			t.Errorf("state of %s: %+v", room, res.State)
		}
	})
}

// client-server-api "Ignoring Users" hides the ignored user's events from
// searches; a redacted event is no longer found.
func TestSearchAPI_IgnoredUsersAndRedactedEvents(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob, carol)
		fromAlice := alice.SendText(room, "pulsar one")
		carol.SendText(room, "pulsar two")
		redacted := alice.SendText(room, "pulsar three")
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{carol.UserID: map[string]any{}}}, nil)
		alice.MustDo("PUT", servertest.Room(room)+"/redact/"+url.PathEscape(redacted)+"/r1", map[string]any{}, nil)
		if got := searchFor(t, bob, "pulsar", nil, "").ids(); !slices.Equal(got, []string{fromAlice}) {
			t.Fatalf("bob found %v, want only %s", got, fromAlice)
		}
		if got := searchFor(t, alice, "pulsar", map[string]any{"filter": map[string]any{"not_senders": []string{alice.UserID}}}, "").ids(); len(got) != 1 {
			t.Fatalf("alice filtering herself out found %v", got)
		}
	})
}

// Bad requests get the spec's errors; unknown categories are ignored; a
// search term is never an error, whatever it holds.
func TestSearchAPI_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		alice.SendText(room, "hello world")
		post := func(body any, query string) (int, []byte) {
			return alice.Do("POST", "/_matrix/client/v3/search"+query, body, nil)
		}
		re := func(kv ...any) map[string]any {
			m := map[string]any{"search_term": "hello"}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return map[string]any{"search_categories": map[string]any{"room_events": m}}
		}
		for _, c := range []struct {
			name    string
			body    any
			query   string
			errcode string
		}{
			{"not JSON", "{", "", "M_NOT_JSON"},
			{"no search_categories", map[string]any{}, "", "M_BAD_JSON"},
			{"no search_term", map[string]any{"search_categories": map[string]any{"room_events": map[string]any{}}}, "", "M_BAD_JSON"},
			{"search_term not a string", map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": 5}}}, "", "M_BAD_JSON"},
			{"unknown order_by", re("order_by", "oldest"), "", "M_INVALID_PARAM"},
			{"unknown key", re("keys", []string{"content.url"}), "", "M_INVALID_PARAM"},
			{"unknown group", re("groupings", map[string]any{"group_by": []any{map[string]any{"key": "type"}}}), "", "M_INVALID_PARAM"},
			{"negative context", re("event_context", map[string]any{"before_limit": -1}), "", "M_INVALID_PARAM"},
			{"bad filter", re("filter", map[string]any{"rooms": []string{"not a room"}}), "", "M_INVALID_PARAM"},
			{"garbage next_batch", re(), "?next_batch=%21%21", "M_INVALID_PARAM"},
		} {
			status, raw := post(c.body, c.query)
			if status != http.StatusBadRequest || servertest.Errcode(raw) != c.errcode {
				t.Errorf("%s: %d %s, want 400 %s", c.name, status, raw, c.errcode)
			}
		}
		status, raw := post(map[string]any{"search_categories": map[string]any{"org.example.files": map[string]any{}}}, "")
		if status != http.StatusOK || strings.TrimSpace(string(raw)) != `{"search_categories":{}}` {
			t.Errorf("an unknown category only: %d %s", status, raw)
		}
		for _, term := range []string{`"`, `*`, `NEAR(a b)`, `a:b`, `'); DROP TABLE events; --`, `-`, `OR`, `\`, `'a':*`} {
			if status, raw := post(re("search_term", term), ""); status != http.StatusOK {
				t.Errorf("search term %q: %d %s", term, status, raw)
			}
		}
		if status, raw := s.Anonymous().Do("POST", "/_matrix/client/r0/search", re(), nil); status != http.StatusUnauthorized {
			t.Errorf("without a token: %d %s", status, raw)
		}
		if got := searchFor(t, alice, "hello", nil, ""); len(got.Results) != 1 {
			t.Errorf("a plain search after all that: %+v", got)
		}
	})
}

// Events stored before the search index existed (a database from an
// earlier Myelin) are indexed in the background at start.
func TestSearchAPI_IndexesOlderEventsAtStart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		old := alice.SendText(room, "ancient scrolls")
		cfg := s.DB.Config()
		s.Stop()
		// Make the database one from before the index.
		raw, err := sqldb.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		drop := []string{`DROP TABLE search_events`, `DROP TABLE search_backfill`, `DELETE FROM schema_versions WHERE domain = 'search'`}
		if db.Dialect() == sqldb.SQLite {
			drop = append(drop, `DROP TABLE search_fts`)
		}
		for _, q := range drop {
			if _, err := raw.Write.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		raw.Close()

		s = servertest.StartIn(t, dir, db, servertest.Options{})
		alice = s.As(alice)
		deadline := time.Now().Add(time.Minute)
		for {
			if got := searchFor(t, alice, "scrolls", nil, "").ids(); slices.Equal(got, []string{old}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the event stored before the index was never indexed")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// client-server-api "Aggregations of child events": search results carry
// their bundled aggregations, as every other place events are served.
func TestSearchAPI_ResultsCarryBundledAggregations(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{})
		original := alice.SendText(room, "the original quasar")
		e := edit(alice, room, original, "the edited quasar")
		threadReply(alice, room, original, "a reply")
		var resp struct {
			Categories struct {
				RoomEvents struct {
					Results []struct {
						Result relEvent `json:"result"`
					} `json:"results"`
				} `json:"room_events"`
			} `json:"search_categories"`
		}
		alice.MustDo("POST", "/_matrix/client/v3/search", map[string]any{"search_categories": map[string]any{
			"room_events": map[string]any{"search_term": "original", "order_by": "recent"}}}, &resp)
		res := resp.Categories.RoomEvents.Results
		if len(res) != 1 || res[0].Result.EventID != original {
			t.Fatalf("results %+v", res)
		}
		if got := res[0].Result.replaceID(); got != e {
			t.Errorf("m.replace is %q, want the edit %s", got, e)
		}
		if r := res[0].Result.Unsigned.Relations; r == nil || r.Thread == nil || r.Thread.Count != 1 {
			t.Errorf("m.thread missing: %+v", res[0].Result.Unsigned)
		}
	})
}
