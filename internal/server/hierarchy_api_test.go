package server_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type hierarchyPage struct {
	Rooms []struct {
		RoomID         string   `json:"room_id"`
		Name           string   `json:"name"`
		RoomType       string   `json:"room_type"`
		JoinRule       string   `json:"join_rule"`
		WorldReadable  bool     `json:"world_readable"`
		AllowedRoomIDs []string `json:"allowed_room_ids"`
		RoomVersion    string   `json:"room_version"`
		NumJoined      int      `json:"num_joined_members"`
		ChildrenState  []struct {
			Type           string `json:"type"`
			StateKey       string `json:"state_key"`
			Sender         string `json:"sender"`
			OriginServerTS int64  `json:"origin_server_ts"`
		} `json:"children_state"`
	} `json:"rooms"`
	NextBatch string `json:"next_batch"`
}

func (p hierarchyPage) names() string {
	var out []string
	for _, r := range p.Rooms {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func hierarchyPath(roomID string, q url.Values) string {
	p := "/_matrix/client/v1/rooms/" + url.PathEscape(roomID) + "/hierarchy"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// spaceFixture is a space tree on one server:
//
//	Space (public)
//	  Sub  (public space, order "a")  → Deep (public)
//	  Pub  (public, order "b", suggested)
//	  Priv (invite only, no order)
//	  Gone (m.space.child without via: removed)
type spaceFixture struct {
	space, sub, deep, pub, priv, gone string
}

func newSpaceFixture(t *testing.T, alice *servertest.Client) spaceFixture {
	t.Helper()
	space := map[string]any{"type": "m.space"}
	f := spaceFixture{
		space: alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Space", "creation_content": space}),
		sub:   alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Sub", "creation_content": space}),
		deep:  alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Deep"}),
		pub:   alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Pub"}),
		priv:  alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "Priv"}),
		gone:  alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Gone"}),
	}
	child := func(parent, child string, content map[string]any) {
		alice.MustDo("PUT", servertest.Room(parent)+"/state/m.space.child/"+url.PathEscape(child), content, nil)
	}
	via := []string{"localhost"}
	// Priv first: the oldest child without an order still sorts after those with one.
	child(f.space, f.priv, map[string]any{"via": via})
	child(f.space, f.pub, map[string]any{"via": via, "order": "b", "suggested": true})
	child(f.space, f.sub, map[string]any{"via": via, "order": "a"})
	child(f.space, f.gone, map[string]any{})
	child(f.sub, f.deep, map[string]any{"via": via})
	return f
}

// client-server-api GET /hierarchy: depth first, children in the spec's
// order (order, then origin_server_ts, then room ID), rooms the user may
// not see left out, children without via ignored, children_state only on
// space-rooms.
func TestHierarchy_DepthFirstInTheSpecsOrder(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		f := newSpaceFixture(t, alice)
		var page hierarchyPage
		bob.MustDo("GET", hierarchyPath(f.space, nil), nil, &page)
		if got := page.names(); got != "Space,Sub,Deep,Pub" {
			t.Fatalf("bob's hierarchy = %s, want Space,Sub,Deep,Pub", got)
		}
		if page.NextBatch != "" {
			t.Errorf("next_batch = %q on the last page", page.NextBatch)
		}
		root := page.Rooms[0]
		var kids []string
		for _, c := range root.ChildrenState {
			kids = append(kids, c.StateKey)
			if c.Type != "m.space.child" || c.Sender != alice.UserID || c.OriginServerTS == 0 {
				t.Errorf("child event %+v lacks its stripped fields", c)
			}
		}
		if strings.Join(kids, ",") != strings.Join([]string{f.sub, f.pub, f.priv}, ",") {
			t.Errorf("children_state = %v, want Sub, Pub, Priv (Gone has no via)", kids)
		}
		if root.RoomType != "m.space" || root.JoinRule != "public" || root.RoomVersion == "" || root.NumJoined != 1 {
			t.Errorf("the space's summary = %+v", root)
		}
		if deep := page.Rooms[2]; len(deep.ChildrenState) != 0 {
			t.Errorf("a room that is not a space has children_state %v", deep.ChildrenState)
		}
		// alice, a member of Priv, sees it too.
		alice.MustDo("GET", hierarchyPath(f.space, nil), nil, &page)
		if got := page.names(); got != "Space,Sub,Deep,Pub,Priv" {
			t.Errorf("alice's hierarchy = %s", got)
		}
	})
}

// max_depth stops the walk; suggested_only keeps suggested children only.
func TestHierarchy_MaxDepthAndSuggestedOnly(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		f := newSpaceFixture(t, alice)
		for _, tc := range []struct {
			q    url.Values
			want string
		}{
			{url.Values{"max_depth": {"0"}}, "Space"},
			{url.Values{"max_depth": {"1"}}, "Space,Sub,Pub,Priv"},
			{url.Values{"suggested_only": {"true"}}, "Space,Pub"},
		} {
			var page hierarchyPage
			alice.MustDo("GET", hierarchyPath(f.space, tc.q), nil, &page)
			if got := page.names(); got != tc.want {
				t.Errorf("%v: %s, want %s", tc.q, got, tc.want)
			}
		}
	})
}

// Pagination: limit rooms per page and a from token that continues the
// walk; the token is bound to the first request's suggested_only and
// max_depth (400 M_INVALID_PARAM otherwise).
func TestHierarchy_Pagination(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		f := newSpaceFixture(t, alice)
		var names []string
		from := ""
		for i := 0; ; i++ {
			if i > 10 {
				t.Fatal("pagination does not end")
			}
			q := url.Values{"limit": {"2"}}
			if from != "" {
				q.Set("from", from)
			}
			var page hierarchyPage
			alice.MustDo("GET", hierarchyPath(f.space, q), nil, &page)
			if len(page.Rooms) > 2 {
				t.Fatalf("a page of %d rooms with limit 2", len(page.Rooms))
			}
			names = append(names, page.names())
			if page.NextBatch == "" {
				break
			}
			if i == 0 {
				status, raw := alice.Do("GET", hierarchyPath(f.space, url.Values{"from": {page.NextBatch}, "max_depth": {"1"}}), nil, nil)
				if status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
					t.Errorf("changing max_depth with from: %d %s", status, raw)
				}
			}
			from = page.NextBatch
		}
		if got := strings.Join(names, ","); got != "Space,Sub,Deep,Pub,Priv" {
			t.Errorf("pages = %s", got)
		}
	})
}

// Pagination sessions are stored: a next_batch token handed out by one
// process is continued by another on the same database (here the same
// server restarted), as long as it has not expired.
func TestHierarchy_PaginationContinuesOnAnotherProcess(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice := s.Register("alice")
		f := newSpaceFixture(t, alice)
		var first hierarchyPage
		alice.MustDo("GET", hierarchyPath(f.space, url.Values{"limit": {"2"}}), nil, &first)
		if first.names() != "Space,Sub" || first.NextBatch == "" {
			t.Fatalf("first page %s, next %q", first.names(), first.NextBatch)
		}
		s.Stop()
		alice = servertest.StartIn(t, dir, db, servertest.Options{}).As(alice)
		var rest hierarchyPage
		alice.MustDo("GET", hierarchyPath(f.space, url.Values{"limit": {"10"}, "from": {first.NextBatch}}), nil, &rest)
		if rest.names() != "Deep,Pub,Priv" || rest.NextBatch != "" {
			t.Errorf("continued page %s, next %q", rest.names(), rest.NextBatch)
		}
	})
}

// Restricted rooms appear to those who meet their conditions, with
// allowed_room_ids; world_readable rooms to everyone.
func TestHierarchy_RestrictedAndWorldReadableRooms(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, dave := s.Register("alice"), s.Register("bob"), s.Register("dave")
		space := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Space", "creation_content": map[string]any{"type": "m.space"}})
		members := alice.CreateRoom(map[string]any{"preset": "public_chat", "name": "Members"})
		restricted := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "Restricted", "initial_state": []map[string]any{
			{"type": "m.room.join_rules", "content": map[string]any{"join_rule": "restricted",
				"allow": []map[string]any{{"type": "m.room_membership", "room_id": members}}}}}})
		readable := alice.CreateRoom(map[string]any{"preset": "private_chat", "name": "Readable", "initial_state": []map[string]any{
			{"type": "m.room.history_visibility", "content": map[string]any{"history_visibility": "world_readable"}}}})
		for _, c := range []string{restricted, readable} {
			alice.MustDo("PUT", servertest.Room(space)+"/state/m.space.child/"+url.PathEscape(c), map[string]any{"via": []string{"localhost"}}, nil)
		}
		bob.MustDo("POST", servertest.Room(members)+"/join", map[string]any{}, nil)

		var page hierarchyPage
		bob.MustDo("GET", hierarchyPath(space, nil), nil, &page)
		if got := page.names(); got != "Space,Restricted,Readable" {
			t.Fatalf("bob (in Members) sees %s", got)
		}
		if r := page.Rooms[1]; len(r.AllowedRoomIDs) != 1 || r.AllowedRoomIDs[0] != members || r.JoinRule != "restricted" {
			t.Errorf("restricted room summary = %+v", r)
		}
		if !page.Rooms[2].WorldReadable {
			t.Error("world_readable not set")
		}
		dave.MustDo("GET", hierarchyPath(space, nil), nil, &page)
		if got := page.names(); got != "Space,Readable" {
			t.Errorf("dave (in no allowed room) sees %s", got)
		}
	})
}

// The errors: bad parameters are 400 M_INVALID_PARAM; a root the user may
// not see, or that this server does not know, is 403 M_FORBIDDEN.
func TestHierarchy_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		public := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		private := alice.CreateRoom(map[string]any{"preset": "private_chat", "creation_content": map[string]any{"type": "m.space"}})
		for _, tc := range []struct {
			name    string
			room    string
			q       url.Values
			status  int
			errcode string
		}{
			{"limit 0", public, url.Values{"limit": {"0"}}, 400, "M_INVALID_PARAM"},
			{"limit not a number", public, url.Values{"limit": {"x"}}, 400, "M_INVALID_PARAM"},
			{"negative max_depth", public, url.Values{"max_depth": {"-1"}}, 400, "M_INVALID_PARAM"},
			{"suggested_only not a boolean", public, url.Values{"suggested_only": {"yes"}}, 400, "M_INVALID_PARAM"},
			{"unknown from", public, url.Values{"from": {"nope"}}, 400, "M_INVALID_PARAM"},
			{"private space", private, nil, 403, "M_FORBIDDEN"},
			{"unknown room", "!nowhere:localhost", nil, 403, "M_FORBIDDEN"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw := bob.Do("GET", hierarchyPath(tc.room, tc.q), nil, nil)
				if status != tc.status || servertest.Errcode(raw) != tc.errcode {
					t.Fatalf("got %d %s, want %d %s", status, raw, tc.status, tc.errcode)
				}
			})
		}
		if status, _ := s.Anonymous().Do("GET", hierarchyPath(public, nil), nil, nil); status != 401 {
			t.Errorf("without a token: %d, want 401", status)
		}
	})
}
