package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// The spec's PUT /rooms/{roomId}/state rules for m.room.canonical_alias:
// an alias with invalid syntax is 400 M_INVALID_PARAM, one that does not
// exist or names another room is 400 M_BAD_ALIAS, and nothing is sent.
func TestCanonicalAliasMustPointAtTheRoom(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{"room_alias_name": "tea"})
		alice.CreateRoom(map[string]any{"room_alias_name": "coffee"})
		alice.MustDo("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape("#tea2:localhost"), map[string]any{"room_id": roomID}, nil)
		alice.MustDo("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape("#gone:localhost"), map[string]any{"room_id": roomID}, nil)
		alice.MustDo("DELETE", "/_matrix/client/v3/directory/room/"+url.PathEscape("#gone:localhost"), nil, nil)
		put := servertest.Room(roomID) + "/state/m.room.canonical_alias/"
		tea, tea2 := "#tea:localhost", "#tea2:localhost"

		for _, tc := range []struct {
			name    string
			content map[string]any
			status  int
			errcode string
		}{
			{"bad syntax", map[string]any{"alias": "tea"}, 400, "M_INVALID_PARAM"},
			{"bad alt syntax", map[string]any{"alias": tea, "alt_aliases": []string{"#nocolon"}}, 400, "M_INVALID_PARAM"},
			{"alias not a string", map[string]any{"alias": 5}, 400, "M_INVALID_PARAM"},
			{"alt_aliases not a list", map[string]any{"alt_aliases": "x"}, 400, "M_INVALID_PARAM"},
			{"unknown alias", map[string]any{"alias": "#nope:localhost"}, 400, "M_BAD_ALIAS"},
			{"deleted alias", map[string]any{"alt_aliases": []string{"#gone:localhost"}}, 400, "M_BAD_ALIAS"},
			{"another room's alias", map[string]any{"alias": "#coffee:localhost"}, 400, "M_BAD_ALIAS"},
			{"another room's alt alias", map[string]any{"alias": tea, "alt_aliases": []string{"#coffee:localhost"}}, 400, "M_BAD_ALIAS"},
			{"own aliases", map[string]any{"alias": tea, "alt_aliases": []string{tea2}}, 200, ""},
			{"removing all aliases", map[string]any{}, 200, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw := alice.Do("PUT", put, tc.content, nil)
				if status != tc.status || servertest.Errcode(raw) != tc.errcode {
					t.Fatalf("PUT %v = %d %s, want %d %s", tc.content, status, raw, tc.status, tc.errcode)
				}
			})
		}
	})
}

// Aliases already in the room's canonical alias event are not resolved
// again (as Synapse does): an edit that keeps an alias which has since
// been deleted or moved is still accepted, so one stale alias never blocks
// changes to the rest.
func TestCanonicalAliasKeptAliasesAreNotRechecked(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		roomID := alice.CreateRoom(map[string]any{})
		old, fresh := "#old:localhost", "#fresh:localhost"
		for _, a := range []string{old, fresh} {
			alice.MustDo("PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape(a), map[string]any{"room_id": roomID}, nil)
		}
		put := servertest.Room(roomID) + "/state/m.room.canonical_alias/"
		alice.MustDo("PUT", put, map[string]any{"alias": old}, nil)
		alice.MustDo("DELETE", "/_matrix/client/v3/directory/room/"+url.PathEscape(old), nil, nil)

		if status, raw := alice.Do("PUT", put, map[string]any{"alias": old, "alt_aliases": []string{fresh}}, nil); status != http.StatusOK {
			t.Fatalf("keeping a stale alias while adding a good one = %d %s", status, raw)
		}
	})
}

// A user outside the room gets the authorization error, not an answer
// about aliases: the check must not let strangers probe the directory or
// make the server query others.
func TestCanonicalAliasFromNonMemberIsForbidden(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		roomID := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		status, raw := bob.Do("PUT", servertest.Room(roomID)+"/state/m.room.canonical_alias/", map[string]any{"alias": "#nope:localhost"}, nil)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Fatalf("non-member PUT = %d %s, want 403 M_FORBIDDEN", status, raw)
		}
	})
}
