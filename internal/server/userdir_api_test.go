package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const userDirectorySearch = "/_matrix/client/v3/user_directory/search"

type userDirResult struct {
	Limited bool `json:"limited"`
	Results []struct {
		UserID      string `json:"user_id"`
		DisplayName string `json:"display_name"`
		AvatarURL   string `json:"avatar_url"`
	} `json:"results"`
}

func (r userDirResult) ids() []string {
	var out []string
	for _, u := range r.Results {
		out = append(out, u.UserID)
	}
	return out
}

func searchUsers(t *testing.T, c *servertest.Client, term string) userDirResult {
	t.Helper()
	var r userDirResult
	c.MustDo("POST", userDirectorySearch, map[string]any{"search_term": term}, &r)
	return r
}

func setDisplayName(t *testing.T, c *servertest.Client, name string) {
	t.Helper()
	c.MustDo("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(c.UserID)+"/displayname", map[string]any{"displayname": name}, nil)
}

func eachServerWithYAML(t *testing.T, yaml string, fn func(t *testing.T, s *servertest.Server)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, servertest.Start(t, db, servertest.Options{ExtraYAML: yaml}))
	})
}

// client-server-api "User directory": the search covers users who share a
// room with the searcher and users in public rooms; a user in only a
// private room with others is not found by outsiders.
func TestUserDirectory_FindsRoomSharersAndPublicRoomMembersOnly(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol, dave := s.Register("alice"), s.Register("bob"), s.Register("carol"), s.Register("dave")
		setDisplayName(t, bob, "Bob Private")
		setDisplayName(t, carol, "Carol Public")
		private := alice.CreateRoom(map[string]any{"preset": "private_chat", "invite": []string{bob.UserID}})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(private), map[string]any{}, nil)
		public := dave.CreateRoom(map[string]any{"preset": "public_chat"})
		carol.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(public), map[string]any{}, nil)

		if got := searchUsers(t, alice, "bob"); !slices.Equal(got.ids(), []string{bob.UserID}) || got.Results[0].DisplayName != "Bob Private" {
			t.Errorf("alice searching bob (shared private room) = %+v", got)
		}
		if got := searchUsers(t, dave, "bob"); len(got.Results) != 0 {
			t.Errorf("dave found bob, who is only in a private room without him: %+v", got)
		}
		if got := searchUsers(t, alice, "carol"); !slices.Equal(got.ids(), []string{carol.UserID}) {
			t.Errorf("alice searching carol (public room member) = %+v", got)
		}
		// A world_readable room counts as public too.
		hidden := alice.CreateRoom(map[string]any{"preset": "private_chat"})
		if got := searchUsers(t, dave, "alice"); len(got.Results) != 0 {
			t.Fatalf("dave found alice before she was in a public room: %+v", got)
		}
		alice.MustDo("PUT", servertest.Room(hidden)+"/state/m.room.history_visibility/", map[string]any{"history_visibility": "world_readable"}, nil)
		if got := searchUsers(t, dave, "alice"); !slices.Equal(got.ids(), []string{alice.UserID}) {
			t.Errorf("dave searching alice, in a world_readable room = %+v", got)
		}
	})
}

// Synapse's matching: every word of the term is a prefix of a word of the
// display name or the user ID, case-insensitively.
func TestUserDirectory_MatchesWordPrefixesOfNamesAndIDs(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		jl := s.Register("jl.picard")
		setDisplayName(t, jl, "Jean-Luc Picard")
		other := s.Register("riker")
		setDisplayName(t, other, "William Riker")
		sharedRoom(t, alice, jl, other)

		for term, want := range map[string][]string{
			"JEAN":           {jl.UserID},
			"luc":            {jl.UserID},
			"pic":            {jl.UserID},
			"jean pic":       {jl.UserID},
			"picard william": nil,
			"jl.pic":         {jl.UserID},
			"@jl.picard:loc": {jl.UserID},
			"rik":            {other.UserID},
			"ean":            nil,
			"!!!":            nil,
		} {
			if got := searchUsers(t, alice, term); !slices.Equal(got.ids(), want) {
				t.Errorf("search %q = %v, want %v", term, got.ids(), want)
			}
		}
	})
}

// client-server-api "POST /user_directory/search": limit (default 10)
// bounds the results and limited says that there were more; a name equal
// to the term ranks first.
func TestUserDirectory_LimitAndLimited(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		room := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		for i := range 12 {
			u := s.Register(fmt.Sprintf("sam%02d", i))
			u.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
		}
		exact := s.Register("samuel")
		setDisplayName(t, exact, "Sam")
		exact.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)

		got := searchUsers(t, alice, "sam")
		if len(got.Results) != 10 || !got.Limited {
			t.Fatalf("default limit: %d results, limited %v", len(got.Results), got.Limited)
		}
		if got.Results[0].UserID != exact.UserID {
			t.Errorf("first result %s, want %s whose name is the term", got.Results[0].UserID, exact.UserID)
		}
		var all userDirResult
		alice.MustDo("POST", userDirectorySearch, map[string]any{"search_term": "sam", "limit": 20}, &all)
		if len(all.Results) != 13 || all.Limited {
			t.Errorf("limit 20: %d results, limited %v", len(all.Results), all.Limited)
		}
		var three userDirResult
		alice.MustDo("POST", userDirectorySearch, map[string]any{"search_term": "sam0", "limit": 3}, &three)
		if !slices.Equal(three.ids(), []string{"@sam00:localhost", "@sam01:localhost", "@sam02:localhost"}) || !three.Limited {
			t.Errorf("limit 3 = %v limited %v", three.ids(), three.Limited)
		}
	})
}

// The directory follows profile and membership changes: a new display
// name is found and the old one is not; a user who left the only shared
// room is no longer found; a deactivated user is never found.
func TestUserDirectory_FollowsProfileMembershipAndDeactivation(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := alice.CreateRoom(map[string]any{"preset": "private_chat", "invite": []string{bob.UserID, carol.UserID}})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)
		carol.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), map[string]any{}, nil)

		setDisplayName(t, bob, "Zebediah")
		if got := searchUsers(t, alice, "zeb"); !slices.Equal(got.ids(), []string{bob.UserID}) || got.Results[0].DisplayName != "Zebediah" {
			t.Errorf("search for the new name = %+v", got)
		}
		if got := searchUsers(t, alice, "bob"); !slices.Equal(got.ids(), []string{bob.UserID}) {
			t.Errorf("the user ID still finds bob: %+v", got)
		}
		setDisplayName(t, bob, "Other")
		if got := searchUsers(t, alice, "zeb"); len(got.Results) != 0 {
			t.Errorf("the old name still finds bob: %+v", got)
		}

		bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
		if got := searchUsers(t, alice, "bob"); len(got.Results) != 0 {
			t.Errorf("bob left the only shared room but is found: %+v", got)
		}

		body := map[string]any{"auth": map[string]any{"type": "m.login.password", "password": "correct horse battery staple",
			"identifier": map[string]any{"type": "m.id.user", "user": carol.UserID}}}
		carol.MustDo("POST", "/_matrix/client/v3/account/deactivate", body, nil)
		if got := searchUsers(t, alice, "carol"); len(got.Results) != 0 {
			t.Errorf("a deactivated user is found: %+v", got)
		}
	})
}

// Synapse's user_directory.search_all_users: every local user is found,
// even in no room, except the searcher; prefer_local_users is accepted.
func TestUserDirectory_SearchAllUsers(t *testing.T) {
	eachServerWithYAML(t, "user_directory: {search_all_users: true, prefer_local_users: true}\n", func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		if got := searchUsers(t, alice, "bob"); !slices.Equal(got.ids(), []string{bob.UserID}) || got.Results[0].DisplayName != "bob" {
			t.Errorf("search_all_users: alice searching bob (no shared room) = %+v", got)
		}
		if got := searchUsers(t, alice, "alice"); len(got.Results) != 0 {
			t.Errorf("the searcher is listed: %+v", got)
		}
		setDisplayName(t, bob, "Roberta")
		if got := searchUsers(t, alice, "robe"); !slices.Equal(got.ids(), []string{bob.UserID}) {
			t.Errorf("a profile change of a user in no room: %+v", got)
		}
	})
}

// A directory built when the server starts with users and rooms already
// there (a server upgraded to a version with the directory, or a restart)
// finds them.
func TestUserDirectory_KeepsWorkingAcrossARestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice, bob := s.Register("alice"), s.Register("bob")
		sharedRoom(t, alice, bob)
		s.Stop()
		s = servertest.StartIn(t, dir, db, servertest.Options{})
		if got := searchUsers(t, s.As(alice), "bob"); !slices.Equal(got.ids(), []string{bob.UserID}) {
			t.Errorf("after a restart = %+v", got)
		}
	})
}

// user_directory.enabled: false: searches answer no results, as in Synapse.
func TestUserDirectory_DisabledFindsNobody(t *testing.T) {
	eachServerWithYAML(t, "user_directory: {enabled: false}\n", func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		sharedRoom(t, alice, bob)
		if got := searchUsers(t, alice, "bob"); len(got.Results) != 0 || got.Limited {
			t.Errorf("disabled directory = %+v", got)
		}
	})
}

// Bad requests get the spec's errors.
func TestUserDirectory_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		for _, tc := range []struct {
			name   string
			c      *servertest.Client
			body   any
			status int
			code   string
		}{
			{"no token", s.Anonymous(), map[string]any{"search_term": "x"}, http.StatusUnauthorized, "M_MISSING_TOKEN"},
			{"no search_term", alice, map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"search_term not a string", alice, map[string]any{"search_term": 3}, http.StatusBadRequest, "M_BAD_JSON"},
			{"limit not an integer", alice, map[string]any{"search_term": "x", "limit": 1.5}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"not JSON", alice, "{", http.StatusBadRequest, "M_NOT_JSON"},
			{"term too long", alice, map[string]any{"search_term": strings.Repeat("a", 2000)}, http.StatusBadRequest, "M_INVALID_PARAM"},
		} {
			status, raw := tc.c.Do("POST", userDirectorySearch, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
	})
}
