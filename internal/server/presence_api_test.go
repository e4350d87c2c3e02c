package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

func presencePath(userID string) string {
	return "/_matrix/client/v3/presence/" + url.PathEscape(userID) + "/status"
}

type presenceContent struct {
	Presence        string  `json:"presence"`
	StatusMsg       *string `json:"status_msg"`
	LastActiveAgo   *int64  `json:"last_active_ago"`
	CurrentlyActive *bool   `json:"currently_active"`
}

// presenceOf returns the content of userID's m.presence event in a sync.
func (s ephemeralSync) presenceOf(t *testing.T, userID string) (presenceContent, bool) {
	t.Helper()
	for _, e := range s.Presence.Events {
		if e.Type == "m.presence" && e.Sender == userID {
			var c presenceContent
			if err := json.Unmarshal(e.Content, &c); err != nil {
				t.Fatal(err)
			}
			return c, true
		}
	}
	return presenceContent{}, false
}

// client-server-api "Presence": a user sets their presence and status
// message; they and the users they share a room with may read it, and
// only those see it in /sync.
func TestPresenceAPI_SharedRoomsOnly(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		sharedRoom(t, alice, bob)
		bobTok := syncEphemeral(t, bob, "", url.Values{"set_presence": {"offline"}}).NextBatch
		alice.MustDo("PUT", presencePath(alice.UserID), map[string]any{"presence": "online", "status_msg": "writing tests"}, nil)

		var got presenceContent
		for _, c := range []*servertest.Client{alice, bob} {
			c.MustDo("GET", presencePath(alice.UserID), nil, &got)
			if got.Presence != "online" || got.StatusMsg == nil || *got.StatusMsg != "writing tests" ||
				got.LastActiveAgo == nil || got.CurrentlyActive == nil || !*got.CurrentlyActive {
				t.Errorf("%s reads alice's presence as %+v", c.UserID, got)
			}
		}
		status, raw := carol.Do("GET", presencePath(alice.UserID), nil, nil)
		if status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("carol, sharing no room, reads alice's presence: %d %s", status, raw)
		}

		if c, ok := syncEphemeral(t, bob, bobTok, url.Values{"set_presence": {"offline"}}).presenceOf(t, alice.UserID); !ok || c.Presence != "online" {
			t.Errorf("bob's incremental sync: alice's presence %+v (%v)", c, ok)
		}
		if c, ok := syncEphemeral(t, bob, "", url.Values{"set_presence": {"offline"}}).presenceOf(t, alice.UserID); !ok || c.StatusMsg == nil {
			t.Errorf("bob's initial sync: alice's presence %+v (%v)", c, ok)
		}
		if _, ok := syncEphemeral(t, carol, "", nil).presenceOf(t, alice.UserID); ok {
			t.Error("carol, sharing no room with alice, sees her presence in /sync")
		}
		// The presence filter applies, and ignored users are hidden.
		f := url.Values{"set_presence": {"offline"}, "filter": {`{"presence":{"not_senders":["` + alice.UserID + `"]}}`}}
		if _, ok := syncEphemeral(t, bob, "", f).presenceOf(t, alice.UserID); ok {
			t.Error("not_senders still shows alice's presence")
		}
		f = url.Values{"set_presence": {"offline"}, "filter": {`{"presence":{"types":["m.nothing"]}}`}}
		if _, ok := syncEphemeral(t, bob, "", f).presenceOf(t, alice.UserID); ok {
			t.Error("types [m.nothing] still shows presence")
		}
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+url.PathEscape(bob.UserID)+"/account_data/m.ignored_user_list",
			map[string]any{"ignored_users": map[string]any{alice.UserID: map[string]any{}}}, nil)
		if _, ok := syncEphemeral(t, bob, "", url.Values{"set_presence": {"offline"}}).presenceOf(t, alice.UserID); ok {
			t.Error("bob ignores alice but sees her presence")
		}
	})
}

// GET /sync's set_presence: syncing marks the user online (the default) or
// unavailable; offline leaves their presence alone.
func TestPresenceAPI_SetPresenceOnSync(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		var got presenceContent
		syncEphemeral(t, alice, "", url.Values{"set_presence": {"offline"}})
		alice.MustDo("GET", presencePath(alice.UserID), nil, &got)
		if got.Presence != "offline" {
			t.Errorf("after set_presence=offline: %+v", got)
		}
		first := syncEphemeral(t, alice, "", nil)
		alice.MustDo("GET", presencePath(alice.UserID), nil, &got)
		if got.Presence != "online" {
			t.Errorf("after a sync: %+v", got)
		}
		if c, ok := first.presenceOf(t, alice.UserID); !ok || c.Presence != "online" {
			t.Errorf("a user's own presence in their sync: %+v (%v)", c, ok)
		}
		syncEphemeral(t, alice, "", url.Values{"set_presence": {"unavailable"}})
		alice.MustDo("GET", presencePath(alice.UserID), nil, &got)
		if got.Presence != "unavailable" {
			t.Errorf("after set_presence=unavailable: %+v", got)
		}
		status, raw := alice.Do("GET", "/_matrix/client/v3/sync?set_presence=away", nil, nil)
		if status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("set_presence=away: %d %s", status, raw)
		}
	})
}

func TestPresenceAPI_Errors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		long := make([]byte, 3000)
		for i := range long {
			long[i] = 'x'
		}
		for _, tc := range []struct {
			name    string
			path    string
			body    any
			status  int
			errcode string
		}{
			{"another user's presence", presencePath(bob.UserID), map[string]any{"presence": "online"}, http.StatusForbidden, "M_FORBIDDEN"},
			{"no presence", presencePath(alice.UserID), map[string]any{"status_msg": "hi"}, http.StatusBadRequest, "M_MISSING_PARAM"},
			{"unknown state", presencePath(alice.UserID), map[string]any{"presence": "away"}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"status_msg not a string", presencePath(alice.UserID), map[string]any{"presence": "online", "status_msg": 5}, http.StatusBadRequest, "M_BAD_JSON"},
			{"status_msg too long", presencePath(alice.UserID), map[string]any{"presence": "online", "status_msg": string(long)}, http.StatusBadRequest, "M_INVALID_PARAM"},
			{"not JSON", presencePath(alice.UserID), "online", http.StatusBadRequest, "M_NOT_JSON"},
		} {
			status, raw := alice.Do("PUT", tc.path, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.errcode {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.errcode)
			}
		}
	})
}

// Synapse's presence.enabled: false turns presence off; the endpoints
// still answer (PUT accepted and ignored, GET offline) and /sync carries
// none.
func TestPresenceAPI_DisabledAnswersAsSynapse(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := servertest.Start(t, db, servertest.Options{ExtraYAML: "presence: {enabled: false}\n"})
		alice, bob := s.Register("alice"), s.Register("bob")
		sharedRoom(t, alice, bob)
		alice.MustDo("PUT", presencePath(alice.UserID), map[string]any{"presence": "online", "status_msg": "hi"}, nil)
		var got presenceContent
		bob.MustDo("GET", presencePath(alice.UserID), nil, &got)
		if got.Presence != "offline" || got.StatusMsg != nil {
			t.Errorf("presence disabled: GET %+v, want offline", got)
		}
		if resp := syncEphemeral(t, bob, "", nil); len(resp.Presence.Events) != 0 {
			t.Errorf("presence disabled: /sync carries %d presence events", len(resp.Presence.Events))
		}
	})
}
