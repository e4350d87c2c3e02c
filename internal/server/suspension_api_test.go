package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const csAdminV1 = "/_matrix/client/v1/admin"

// setSuspended suspends or unsuspends userID through the client-server
// admin endpoint (spec v1.18) and checks its answer.
func setSuspended(t *testing.T, admin *servertest.Client, userID string, on bool) {
	t.Helper()
	var got map[string]any
	admin.MustDo("PUT", csAdminV1+"/suspend/"+esc(userID), map[string]any{"suspended": on}, &got)
	if len(got) != 1 || got["suspended"] != on {
		t.Fatalf("PUT suspend %v: answer %v", on, got)
	}
}

func expectSuspended(t *testing.T, what string, status int, raw []byte) {
	t.Helper()
	expectStatus(t, what, status, raw, http.StatusForbidden, "M_USER_SUSPENDED")
}

// client-server-api "Account suspension": a suspended user is refused, with
// 403 M_USER_SUSPENDED, what the spec recommends forbidding (joins, knocks,
// invites sent or accepted, messages, profile changes, redacting others'
// events) and what Myelin adds to it (state events, kicks and bans,
// creating and upgrading rooms, uploads, removing an address; see
// clientapi/suspension.go), and keeps doing what the spec says they
// should: log in, sync and read, redact their own events, leave rooms and
// reject invites, log out. Lifting the suspension restores everything.
func TestSuspension_RefusesForbiddenActionsAndAllowsTheRest(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		room := sharedRoom(t, alice, bob)
		alicesEvent := alice.SendText(room, "from alice")
		bobsEvent := bob.SendText(room, "from bob")
		bobsOther := bob.SendText(room, "another from bob")
		public := alice.CreateRoom(map[string]any{"preset": "public_chat"})
		invitedTo := alice.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		toReject := alice.CreateRoom(map[string]any{"invite": []string{bob.UserID}})
		knockable := alice.CreateRoom(map[string]any{"room_version": "10", "initial_state": []any{
			map[string]any{"type": "m.room.join_rules", "state_key": "", "content": map[string]any{"join_rule": "knock"}}}})
		// Bob may kick in his own room, had he not been suspended.
		bobsRoom := bob.CreateRoom(map[string]any{"preset": "public_chat"})
		carol.MustDo("POST", servertest.Room(bobsRoom)+"/join", map[string]any{}, nil)

		setSuspended(t, admin, bob.UserID, true)
		var user map[string]any
		admin.MustDo("GET", adminV2+"/users/"+esc(bob.UserID), nil, &user)
		if user["suspended"] != true {
			t.Errorf("Synapse admin API's view of bob: suspended = %v", user["suspended"])
		}

		forbidden := []struct {
			what, method, path string
			body               any
		}{
			{"sending a message", "PUT", servertest.Room(room) + "/send/m.room.message/s1", map[string]any{"msgtype": "m.text", "body": "no"}},
			{"sending a custom event", "PUT", servertest.Room(room) + "/send/org.example.thing/s2", map[string]any{}},
			{"sending state", "PUT", servertest.Room(room) + "/state/m.room.topic/", map[string]any{"topic": "no"}},
			{"inviting", "POST", servertest.Room(room) + "/invite", map[string]any{"user_id": carol.UserID}},
			{"inviting by email", "POST", servertest.Room(room) + "/invite", map[string]any{"id_server": "id.example.org", "id_access_token": "t", "medium": "email", "address": "carol@example.org"}},
			{"inviting through state", "PUT", servertest.Room(room) + "/state/m.room.member/" + esc(carol.UserID), map[string]any{"membership": "invite"}},
			{"kicking", "POST", servertest.Room(bobsRoom) + "/kick", map[string]any{"user_id": carol.UserID}},
			{"banning", "POST", servertest.Room(bobsRoom) + "/ban", map[string]any{"user_id": carol.UserID}},
			{"joining", "POST", "/_matrix/client/v3/join/" + url.PathEscape(public), map[string]any{}},
			{"joining by room", "POST", servertest.Room(public) + "/join", map[string]any{}},
			{"accepting an invite", "POST", servertest.Room(invitedTo) + "/join", map[string]any{}},
			{"knocking", "POST", "/_matrix/client/v3/knock/" + url.PathEscape(knockable), map[string]any{}},
			{"redacting another's event", "PUT", servertest.Room(room) + "/redact/" + url.PathEscape(alicesEvent) + "/r1", map[string]any{}},
			{"redacting another's event through /send", "PUT", servertest.Room(room) + "/send/m.room.redaction/r2", map[string]any{"redacts": alicesEvent}},
			{"creating a room", "POST", "/_matrix/client/v3/createRoom", map[string]any{}},
			{"upgrading a room", "POST", servertest.Room(bobsRoom) + "/upgrade", map[string]any{"new_version": "11"}},
			{"setting a display name", "PUT", "/_matrix/client/v3/profile/" + esc(bob.UserID) + "/displayname", map[string]any{"displayname": "B"}},
			{"setting an avatar", "PUT", "/_matrix/client/v3/profile/" + esc(bob.UserID) + "/avatar_url", map[string]any{"avatar_url": "mxc://localhost/x"}},
			{"setting a profile field", "PUT", "/_matrix/client/v3/profile/" + esc(bob.UserID) + "/m.tz", map[string]any{"m.tz": "Europe/Paris"}},
			{"deleting a profile field", "DELETE", "/_matrix/client/v3/profile/" + esc(bob.UserID) + "/displayname", nil},
			{"uploading media", "POST", "/_matrix/media/v3/upload", []byte("content")},
			{"creating a media ID", "POST", "/_matrix/media/v1/create", nil},
			{"removing a contact address", "POST", "/_matrix/client/v3/account/3pid/delete", map[string]any{"medium": "email", "address": "bob@example.org"}},
		}
		for _, f := range forbidden {
			status, raw := bob.Do(f.method, f.path, f.body, nil)
			expectSuspended(t, f.what, status, raw)
		}
		if got := messageBodies(t, alice, room); got[0] != "another from bob" {
			t.Errorf("the room after the refusals: %v", got)
		}

		// Allowed: reading, syncing, receipts, account data, typing,
		// redacting one's own events (both endpoints), leaving, rejecting
		// an invite, logging in again.
		bob.MustDo("GET", "/_matrix/client/v3/sync", nil, nil)
		if got := messageBodies(t, bob, room); len(got) == 0 {
			t.Error("bob reads no messages")
		}
		bob.MustDo("GET", servertest.Room(room)+"/state", nil, nil)
		bob.MustDo("POST", receiptPath(room, "m.read", alicesEvent), map[string]any{}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/user/"+esc(bob.UserID)+"/account_data/org.example.x", map[string]any{"a": 1}, nil)
		bob.MustDo("PUT", typingPath(room, bob.UserID), map[string]any{"typing": true, "timeout": 1000}, nil)
		bob.MustDo("PUT", servertest.Room(room)+"/redact/"+url.PathEscape(bobsEvent)+"/own1", map[string]any{}, nil)
		bob.MustDo("PUT", servertest.Room(room)+"/send/m.room.redaction/own2", map[string]any{"redacts": bobsOther}, nil)
		bob.MustDo("POST", servertest.Room(toReject)+"/leave", map[string]any{}, nil)
		var login struct {
			AccessToken string `json:"access_token"`
		}
		s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
			"password": "correct horse battery staple", "identifier": map[string]any{"type": "m.id.user", "user": "bob"}}, &login)
		// The new session is suspended too.
		second := s.As(&servertest.Client{UserID: bob.UserID, AccessToken: login.AccessToken})
		status, raw := second.Do("PUT", servertest.Room(room)+"/send/m.room.message/s3", map[string]any{"msgtype": "m.text", "body": "no"}, nil)
		expectSuspended(t, "sending from a session opened while suspended", status, raw)
		bob.MustDo("POST", servertest.Room(bobsRoom)+"/leave", map[string]any{}, nil)

		// Unsuspended: everything works again.
		setSuspended(t, admin, bob.UserID, false)
		bob.SendText(room, "back")
		bob.MustDo("POST", servertest.Room(public)+"/join", map[string]any{}, nil)
		bob.MustDo("PUT", "/_matrix/client/v3/profile/"+esc(bob.UserID)+"/displayname", map[string]any{"displayname": "Bob"}, nil)
		bob.CreateRoom(map[string]any{})
		bob.MustDo("POST", "/_matrix/media/v3/upload", []byte("content"), nil)
	})
}

// A suspension is stored with the account: it still applies after a
// restart, and the admin endpoint still reports it.
func TestSuspension_SurvivesARestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		admin := newAdmin(t, s, "admin")
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		setSuspended(t, admin, bob.UserID, true)
		s.Stop()

		s = servertest.StartIn(t, dir, db, servertest.Options{})
		bob, admin = s.As(bob), s.As(admin)
		status, raw := bob.Do("PUT", servertest.Room(room)+"/send/m.room.message/after", map[string]any{"msgtype": "m.text", "body": "no"}, nil)
		expectSuspended(t, "sending after a restart", status, raw)
		var got map[string]any
		admin.MustDo("GET", csAdminV1+"/suspend/"+esc(bob.UserID), nil, &got)
		if got["suspended"] != true {
			t.Errorf("GET suspend after a restart: %v", got)
		}
		setSuspended(t, admin, bob.UserID, false)
		bob.SendText(room, "back")
	})
}

// admin.yaml (spec v1.18, MSC4323): GET and PUT /admin/suspend/{userId}
// and /admin/lock/{userId} are for server admins, who are told so by the
// m.account_moderation capability. A non-admin is refused before any
// lookup (so the answer says nothing of which accounts exist); another
// server's user is 400 M_INVALID_PARAM, an unknown or deactivated one 404
// M_NOT_FOUND, another admin (and, for a change, oneself) 403 M_FORBIDDEN.
func TestAdminModerationEndpoints_AdminsOnlyWithTheSpecsErrors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, other := newAdmin(t, s, "admin"), newAdmin(t, s, "other")
		bob, carol, gone := s.Register("bob"), s.Register("carol"), s.Register("gone")
		admin.MustDo("POST", adminV1+"/deactivate/"+esc(gone.UserID), map[string]any{}, nil)

		var caps struct {
			Capabilities map[string]map[string]any `json:"capabilities"`
		}
		admin.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		if m := caps.Capabilities["m.account_moderation"]; m["suspend"] != true || m["lock"] != true {
			t.Errorf("an admin's m.account_moderation: %v", m)
		}
		caps.Capabilities = nil
		bob.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		if m, ok := caps.Capabilities["m.account_moderation"]; ok {
			t.Errorf("a non-admin is shown m.account_moderation: %v", m)
		}

		for _, e := range []struct{ path, key string }{{"suspend", "suspended"}, {"lock", "locked"}} {
			p := func(userID string) string { return csAdminV1 + "/" + e.path + "/" + esc(userID) }
			var got map[string]any
			admin.MustDo("GET", p(bob.UserID), nil, &got)
			if len(got) != 1 || got[e.key] != false {
				t.Errorf("GET %s of an active user: %v", e.path, got)
			}
			// Oneself may be read, not changed.
			admin.MustDo("GET", p(admin.UserID), nil, nil)

			errs := []struct {
				what         string
				c            *servertest.Client
				method, path string
				body         any
				status       int
				code         string
			}{
				{"a non-admin", carol, "GET", p(bob.UserID), nil, http.StatusForbidden, "M_FORBIDDEN"},
				{"a non-admin changing", carol, "PUT", p(bob.UserID), map[string]any{e.key: true}, http.StatusForbidden, "M_FORBIDDEN"},
				{"a non-admin asking of an unknown user", carol, "GET", p("@nobody:localhost"), nil, http.StatusForbidden, "M_FORBIDDEN"},
				{"an unknown user", admin, "GET", p("@nobody:localhost"), nil, http.StatusNotFound, "M_NOT_FOUND"},
				{"changing an unknown user", admin, "PUT", p("@nobody:localhost"), map[string]any{e.key: true}, http.StatusNotFound, "M_NOT_FOUND"},
				{"a deactivated user", admin, "GET", p(gone.UserID), nil, http.StatusNotFound, "M_NOT_FOUND"},
				{"another server's user", admin, "GET", p("@bob:elsewhere.example"), nil, http.StatusBadRequest, "M_INVALID_PARAM"},
				{"changing another server's user", admin, "PUT", p("@bob:elsewhere.example"), map[string]any{e.key: true}, http.StatusBadRequest, "M_INVALID_PARAM"},
				{"another admin", admin, "GET", p(other.UserID), nil, http.StatusForbidden, "M_FORBIDDEN"},
				{"changing another admin", admin, "PUT", p(other.UserID), map[string]any{e.key: true}, http.StatusForbidden, "M_FORBIDDEN"},
				{"changing oneself", admin, "PUT", p(admin.UserID), map[string]any{e.key: true}, http.StatusForbidden, "M_FORBIDDEN"},
				{"a body without the flag", admin, "PUT", p(bob.UserID), map[string]any{}, http.StatusBadRequest, "M_MISSING_PARAM"},
				{"a flag that is not a boolean", admin, "PUT", p(bob.UserID), map[string]any{e.key: "yes"}, http.StatusBadRequest, "M_BAD_JSON"},
			}
			for _, x := range errs {
				status, raw := x.c.Do(x.method, x.path, x.body, nil)
				expectStatus(t, e.path+": "+x.what, status, raw, x.status, x.code)
			}
		}

		// Locking through the endpoint locks: the user's token answers 401
		// M_USER_LOCKED until it is unlocked.
		var got map[string]any
		admin.MustDo("PUT", csAdminV1+"/lock/"+esc(bob.UserID), map[string]any{"locked": true}, &got)
		if len(got) != 1 || got["locked"] != true {
			t.Errorf("PUT lock: %v", got)
		}
		status, raw := bob.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "a locked user's token", status, raw, http.StatusUnauthorized, "M_USER_LOCKED")
		got = nil
		admin.MustDo("GET", csAdminV1+"/lock/"+esc(bob.UserID), nil, &got)
		if got["locked"] != true {
			t.Errorf("GET lock of a locked user: %v", got)
		}
		admin.MustDo("PUT", csAdminV1+"/lock/"+esc(bob.UserID), map[string]any{"locked": false}, nil)
		bob.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, nil)
	})
}

// PUT /_synapse/admin/v1/suspend/{userId} (Synapse's user admin API):
// {"suspend": bool} answered as Synapse answers it; local users only.
func TestAdminAPI_SuspendAsSynapse(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		path := adminV1 + "/suspend/" + esc(bob.UserID)
		for _, on := range []bool{true, false} {
			var got map[string]any
			admin.MustDo("PUT", path, map[string]any{"suspend": on}, &got)
			if len(got) != 1 || got["user_"+bob.UserID+"_suspended"] != on {
				t.Errorf("PUT suspend %v: %v", on, got)
			}
			var user map[string]any
			admin.MustDo("GET", adminV2+"/users/"+esc(bob.UserID), nil, &user)
			if user["suspended"] != on {
				t.Errorf("suspended = %v after PUT suspend %v", user["suspended"], on)
			}
			status, raw := bob.Do("PUT", servertest.Room(room)+"/send/m.room.message/t"+map[bool]string{true: "1", false: "0"}[on],
				map[string]any{"msgtype": "m.text", "body": "hi"}, nil)
			if on {
				expectSuspended(t, "sending while suspended", status, raw)
			} else {
				expectStatus(t, "sending once unsuspended", status, raw, http.StatusOK, "")
			}
		}

		status, raw := admin.Do("PUT", adminV1+"/suspend/"+esc("@bob:elsewhere.example"), map[string]any{"suspend": true}, nil)
		expectStatus(t, "a remote user", status, raw, http.StatusBadRequest, "")
		status, raw = admin.Do("PUT", adminV1+"/suspend/"+esc("@nobody:localhost"), map[string]any{"suspend": true}, nil)
		expectStatus(t, "an unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("PUT", path, map[string]any{}, nil)
		expectStatus(t, "no suspend", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
		status, raw = admin.Do("PUT", path, map[string]any{"suspend": 1}, nil)
		expectStatus(t, "suspend not a boolean", status, raw, http.StatusBadRequest, "M_BAD_JSON")
		status, raw = alice.Do("PUT", path, map[string]any{"suspend": true}, nil)
		expectStatus(t, "a non-admin", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// forget_rooms_on_leave (Synapse's key) and the m.forget_forced_upon_leave
// capability (spec v1.18, MSC4267): with it, a local user's leave, kick or
// ban forgets the room as if they had called /forget (the history is no
// longer theirs to read), while their next sync still shows the leave;
// without it (the default) leaving forgets nothing.
func TestForgetRoomsOnLeave(t *testing.T) {
	capability := func(t *testing.T, c *servertest.Client) any {
		var caps struct {
			Capabilities map[string]map[string]any `json:"capabilities"`
		}
		c.MustDo("GET", "/_matrix/client/v3/capabilities", nil, &caps)
		return caps.Capabilities["m.forget_forced_upon_leave"]["enabled"]
	}
	// Each server on a database of its own.
	t.Run("enabled", func(t *testing.T) {
		storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
			s := servertest.Start(t, db, servertest.Options{ExtraYAML: "forget_rooms_on_leave: true\n"})
			alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
			if got := capability(t, bob); got != true {
				t.Errorf("m.forget_forced_upon_leave enabled = %v", got)
			}
			room := sharedRoom(t, alice, bob, carol)
			var first syncResp
			bob.MustDo("GET", "/_matrix/client/v3/sync", nil, &first)
			bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
			var next syncResp
			bob.MustDo("GET", "/_matrix/client/v3/sync?timeout=2000&since="+first.NextBatch, nil, &next)
			if _, ok := next.Rooms.Leave[room]; !ok {
				t.Errorf("the leave is not in bob's next sync: %+v", next.Rooms)
			}
			status, raw := bob.Do("GET", servertest.Room(room)+"/messages?dir=b", nil, nil)
			expectStatus(t, "history after leaving", status, raw, http.StatusForbidden, "M_FORBIDDEN")
			var initial syncResp
			bob.MustDo("GET", "/_matrix/client/v3/sync?filter="+url.QueryEscape(`{"room":{"include_leave":true}}`), nil, &initial)
			if _, ok := initial.Rooms.Leave[room]; ok {
				t.Error("a forgotten room is in an initial sync with include_leave")
			}

			// A kick forgets too; joining again un-forgets.
			alice.MustDo("POST", servertest.Room(room)+"/kick", map[string]any{"user_id": carol.UserID}, nil)
			status, raw = carol.Do("GET", servertest.Room(room)+"/messages?dir=b", nil, nil)
			expectStatus(t, "history after a kick", status, raw, http.StatusForbidden, "M_FORBIDDEN")
			bob.MustDo("POST", servertest.Room(room)+"/join", map[string]any{}, nil)
			bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b", nil, nil)
		})
	})
	t.Run("default", func(t *testing.T) {
		storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
			s := servertest.Start(t, db, servertest.Options{})
			alice, bob := s.Register("alice"), s.Register("bob")
			if got := capability(t, bob); got != false {
				t.Errorf("m.forget_forced_upon_leave enabled = %v by default", got)
			}
			room := sharedRoom(t, alice, bob)
			bob.MustDo("POST", servertest.Room(room)+"/leave", map[string]any{}, nil)
			bob.MustDo("GET", servertest.Room(room)+"/messages?dir=b", nil, nil)
		})
	})
}
