package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

// Synapse's admin API (docs/admin_api/ in Synapse): paths, shapes and
// errors as Synapse documents them, on both databases.

const adminV1, adminV2 = "/_synapse/admin/v1", "/_synapse/admin/v2"

// newAdmin registers a user and makes them a server admin.
func newAdmin(t *testing.T, s *servertest.Server, localpart string) *servertest.Client {
	t.Helper()
	c := s.Register(localpart)
	makeAdmin(t, s, c.UserID)
	return c
}

func esc(s string) string { return url.PathEscape(s) }

// passwordLogin logs in with a password and returns the status and body.
func passwordLogin(s *servertest.Server, user, password string) (int, []byte) {
	return s.Anonymous().Do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
		"password": password, "identifier": map[string]any{"type": "m.id.user", "user": user}}, nil)
}

func expectStatus(t *testing.T, what string, status int, raw []byte, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || (wantCode != "" && servertest.Errcode(raw) != wantCode) {
		t.Fatalf("%s: %d %s, want %d %s", what, status, raw, wantStatus, wantCode)
	}
}

// Every admin endpoint: 401 without a token, 403 M_FORBIDDEN for users who
// are not server admins.
func TestAdminAPI_RefusesAnonymousAndNonAdmins(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		user := s.Register("user")
		u := esc(user.UserID)
		endpoints := []struct{ method, path string }{
			{"GET", adminV2 + "/users"},
			{"GET", adminV2 + "/users/" + u},
			{"PUT", adminV2 + "/users/" + u},
			{"POST", adminV1 + "/deactivate/" + u},
			{"POST", adminV1 + "/reset_password/" + u},
			{"GET", adminV1 + "/users/" + u + "/joined_rooms"},
			{"GET", adminV1 + "/username_available?username=x"},
			{"GET", adminV1 + "/users/" + u + "/admin"},
			{"PUT", adminV1 + "/users/" + u + "/admin"},
			{"POST", adminV1 + "/users/" + u + "/login"},
			{"GET", adminV2 + "/users/" + u + "/devices"},
			{"POST", adminV2 + "/users/" + u + "/delete_devices"},
			{"GET", adminV2 + "/users/" + u + "/devices/X"},
			{"PUT", adminV2 + "/users/" + u + "/devices/X"},
			{"DELETE", adminV2 + "/users/" + u + "/devices/X"},
			{"GET", adminV1 + "/whois/@other:localhost"},
			{"GET", adminV1 + "/users/" + u + "/accountdata"},
			{"GET", adminV1 + "/users/" + u + "/pushers"},
			{"GET", adminV1 + "/users/" + u + "/override_ratelimit"},
			{"POST", adminV1 + "/users/" + u + "/override_ratelimit"},
			{"DELETE", adminV1 + "/users/" + u + "/override_ratelimit"},
			{"POST", adminV1 + "/users/" + u + "/shadow_ban"},
			{"DELETE", adminV1 + "/users/" + u + "/shadow_ban"},
			{"PUT", adminV1 + "/suspend/" + u},
			{"POST", adminV1 + "/purge_history/" + esc("!r:localhost")},
			{"GET", adminV1 + "/purge_history_status/x"},
			{"POST", adminV1 + "/send_server_notice"},
			{"PUT", adminV1 + "/send_server_notice/t"},
			{"GET", adminV1 + "/statistics/users/media"},
			{"GET", adminV1 + "/statistics/database/rooms"},
			{"GET", adminV1 + "/background_updates/status"},
			{"GET", adminV1 + "/background_updates/enabled"},
			{"POST", adminV1 + "/background_updates/enabled"},
			{"POST", adminV1 + "/background_updates/start_job"},
		}
		for _, e := range endpoints {
			status, raw := s.Anonymous().Do(e.method, e.path, map[string]any{}, nil)
			expectStatus(t, "anonymous "+e.method+" "+e.path, status, raw, http.StatusUnauthorized, "M_MISSING_TOKEN")
			status, raw = user.Do(e.method, e.path, map[string]any{"admin": true}, nil)
			expectStatus(t, "non-admin "+e.method+" "+e.path, status, raw, http.StatusForbidden, "M_FORBIDDEN")
		}
		// What Synapse leaves open: the version, and whois of oneself.
		var v struct {
			ServerVersion string `json:"server_version"`
		}
		s.Anonymous().MustDo("GET", adminV1+"/server_version", nil, &v)
		if v.ServerVersion == "" {
			t.Error("server_version is empty")
		}
		user.MustDo("GET", adminV1+"/whois/"+u, nil, nil)
	})
}

type userList struct {
	Users []struct {
		Name        string  `json:"name"`
		Admin       bool    `json:"admin"`
		Deactivated bool    `json:"deactivated"`
		DisplayName *string `json:"displayname"`
		CreationTS  int64   `json:"creation_ts"`
	} `json:"users"`
	NextToken string `json:"next_token"`
	Total     int    `json:"total"`
}

func (l userList) names() []string {
	var out []string
	for _, u := range l.Users {
		out = append(out, u.Name)
	}
	return out
}

// GET /_synapse/admin/v2/users: pages by from/limit with next_token until
// the last page, filters by name, admins and deactivated, orders by
// order_by and dir, and refuses bad parameters with 400 M_INVALID_PARAM.
func TestAdminAPI_ListUsersPagesFiltersAndOrders(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		for _, n := range []string{"bob", "carol", "dave", "erin"} {
			s.Register(n)
		}
		var all userList
		admin.MustDo("GET", adminV2+"/users", nil, &all)
		want := []string{"@admin:localhost", "@bob:localhost", "@carol:localhost", "@dave:localhost", "@erin:localhost"}
		if !slices.Equal(all.names(), want) || all.Total != 5 || all.NextToken != "" {
			t.Fatalf("all users: %v total %d next %q", all.names(), all.Total, all.NextToken)
		}
		if all.Users[0].CreationTS < 1e12 {
			t.Errorf("creation_ts in the list is in milliseconds: %d", all.Users[0].CreationTS)
		}

		var got []string
		from := "0"
		for pages := 0; from != ""; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			var page userList
			admin.MustDo("GET", adminV2+"/users?limit=2&from="+from, nil, &page)
			if len(page.Users) > 2 || page.Total != 5 {
				t.Fatalf("page from %s: %+v", from, page)
			}
			got = append(got, page.names()...)
			from = page.NextToken
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged: %v", got)
		}

		var desc userList
		admin.MustDo("GET", adminV2+"/users?dir=b&order_by=name", nil, &desc)
		if desc.names()[0] != "@erin:localhost" {
			t.Errorf("dir=b: %v", desc.names())
		}
		var named userList
		admin.MustDo("GET", adminV2+"/users?name=CAR", nil, &named)
		if !slices.Equal(named.names(), []string{"@carol:localhost"}) || named.Total != 1 {
			t.Errorf("name=CAR: %v", named.names())
		}
		var admins userList
		admin.MustDo("GET", adminV2+"/users?admins=true", nil, &admins)
		if !slices.Equal(admins.names(), []string{"@admin:localhost"}) || !admins.Users[0].Admin {
			t.Errorf("admins=true: %+v", admins)
		}

		admin.MustDo("POST", adminV1+"/deactivate/"+esc("@dave:localhost"), map[string]any{}, nil)
		var active, withDeactivated userList
		admin.MustDo("GET", adminV2+"/users", nil, &active)
		admin.MustDo("GET", adminV2+"/users?deactivated=true", nil, &withDeactivated)
		if slices.Contains(active.names(), "@dave:localhost") || active.Total != 4 {
			t.Errorf("deactivated users are listed by default: %v", active.names())
		}
		if !slices.Contains(withDeactivated.names(), "@dave:localhost") || withDeactivated.Total != 5 {
			t.Errorf("deactivated=true: %v", withDeactivated.names())
		}

		for _, q := range []string{"from=-1", "limit=x", "dir=up", "order_by=password", "guests=maybe"} {
			status, raw := admin.Do("GET", adminV2+"/users?"+q, nil, nil)
			expectStatus(t, q, status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		}
	})
}

type userDetails struct {
	Name        string  `json:"name"`
	DisplayName *string `json:"displayname"`
	AvatarURL   *string `json:"avatar_url"`
	Admin       bool    `json:"admin"`
	Deactivated bool    `json:"deactivated"`
	Erased      bool    `json:"erased"`
	Locked      bool    `json:"locked"`
	UserType    *string `json:"user_type"`
	CreationTS  int64   `json:"creation_ts"`
	Threepids   []struct {
		Medium, Address string
	} `json:"threepids"`
}

// PUT /_synapse/admin/v2/users/{userId} creates an account (201) that can
// log in, then changes it (200): profile, admin, user_type, threepids,
// lock and deactivation, each with its effect.
func TestAdminAPI_CreateThenModifyUser(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin := newAdmin(t, s, "admin")
		path := adminV2 + "/users/" + esc("@zoe:localhost")
		var created userDetails
		status, raw := admin.Do("PUT", path, map[string]any{"password": "pw1", "displayname": "Zoe",
			"user_type": "bot", "threepids": []map[string]any{{"medium": "email", "address": "Zoe@Example.org"}}}, &created)
		expectStatus(t, "create", status, raw, http.StatusCreated, "")
		if created.Name != "@zoe:localhost" || created.DisplayName == nil || *created.DisplayName != "Zoe" ||
			created.UserType == nil || *created.UserType != "bot" || created.Admin || len(created.Threepids) != 1 ||
			created.Threepids[0].Address != "zoe@example.org" || created.CreationTS > 1e11 {
			t.Fatalf("created: %s", raw)
		}
		if status, raw := passwordLogin(s, "zoe", "pw1"); status != http.StatusOK {
			t.Fatalf("login of the new account: %d %s", status, raw)
		}

		var mod userDetails
		status, raw = admin.Do("PUT", path, map[string]any{"displayname": "Zoë", "admin": true, "user_type": nil}, &mod)
		expectStatus(t, "modify", status, raw, http.StatusOK, "")
		if *mod.DisplayName != "Zoë" || !mod.Admin || mod.UserType != nil {
			t.Fatalf("modified: %s", raw)
		}
		var profile map[string]any
		s.Anonymous().MustDo("GET", "/_matrix/client/v3/profile/"+esc("@zoe:localhost"), nil, &profile)
		if profile["displayname"] != "Zoë" {
			t.Errorf("profile after the admin's change: %v", profile)
		}

		// Locked: no login, and the account's tokens stop working, with
		// M_USER_LOCKED; unlocking undoes both.
		zoeTok := loginPW(t, s, "zoe", "pw1")
		admin.MustDo("PUT", path, map[string]any{"locked": true}, nil)
		status, raw = passwordLogin(s, "zoe", "pw1")
		expectStatus(t, "login while locked", status, raw, http.StatusUnauthorized, "M_USER_LOCKED")
		status, raw = zoeTok.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "token while locked", status, raw, http.StatusUnauthorized, "M_USER_LOCKED")
		admin.MustDo("PUT", path, map[string]any{"locked": false}, nil)
		zoeTok.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, nil)

		// Deactivated: tokens and login stop; reactivating needs a password.
		admin.MustDo("PUT", path, map[string]any{"deactivated": true}, nil)
		status, raw = zoeTok.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "token after deactivation", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		status, raw = passwordLogin(s, "zoe", "pw1")
		expectStatus(t, "login after deactivation", status, raw, http.StatusForbidden, "M_USER_DEACTIVATED")
		status, raw = admin.Do("PUT", path, map[string]any{"deactivated": false}, nil)
		expectStatus(t, "reactivate without password", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
		admin.MustDo("PUT", path, map[string]any{"deactivated": false, "password": "pw2"}, nil)
		if status, raw := passwordLogin(s, "zoe", "pw2"); status != http.StatusOK {
			t.Fatalf("login after reactivation: %d %s", status, raw)
		}

		status, raw = admin.Do("PUT", adminV2+"/users/"+esc(admin.UserID), map[string]any{"admin": false}, nil)
		expectStatus(t, "self-demotion", status, raw, http.StatusBadRequest, "M_UNKNOWN")
		status, raw = admin.Do("PUT", adminV2+"/users/"+esc("@x:elsewhere.org"), map[string]any{}, nil)
		expectStatus(t, "remote user", status, raw, http.StatusBadRequest, "")
		status, raw = admin.Do("PUT", adminV2+"/users/"+esc("@Upper:localhost"), map[string]any{"password": "x"}, nil)
		expectStatus(t, "upper-case user ID", status, raw, http.StatusBadRequest, "M_INVALID_USERNAME")
		status, raw = admin.Do("PUT", path, map[string]any{"user_type": "wizard"}, nil)
		expectStatus(t, "unknown user_type", status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
		status, raw = admin.Do("GET", adminV2+"/users/"+esc("@nobody:localhost"), nil, nil)
		expectStatus(t, "unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("GET", adminV2+"/users/not-a-user-id", nil, nil)
		expectStatus(t, "bad user ID", status, raw, http.StatusBadRequest, "M_INVALID_PARAM")
	})
}

// loginPW logs in with a password and returns the new session.
func loginPW(t *testing.T, s *servertest.Server, user, password string) *servertest.Client {
	t.Helper()
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
		"password": password, "identifier": map[string]any{"type": "m.id.user", "user": user}}, &resp)
	return s.As(&servertest.Client{UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken})
}

// POST /_synapse/admin/v1/deactivate/{userId} with erase: the user's
// tokens stop working, login is refused, the profile is gone and the
// account shows as deactivated and erased; the user leaves their rooms.
func TestAdminAPI_DeactivateWithErase(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		room := admin.CreateRoom(map[string]any{"preset": "public_chat"})
		bob.MustDo("POST", "/_matrix/client/v3/join/"+esc(room), map[string]any{}, nil)

		var resp map[string]string
		admin.MustDo("POST", adminV1+"/deactivate/"+esc(bob.UserID), map[string]any{"erase": true}, &resp)
		if resp["id_server_unbind_result"] != "success" {
			t.Errorf("response: %v", resp)
		}
		status, raw := bob.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "token after deactivation", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		status, raw = passwordLogin(s, "bob", "correct horse battery staple")
		expectStatus(t, "login after deactivation", status, raw, http.StatusForbidden, "M_USER_DEACTIVATED")
		var u userDetails
		admin.MustDo("GET", adminV2+"/users/"+esc(bob.UserID), nil, &u)
		if !u.Deactivated || !u.Erased || u.DisplayName != nil {
			t.Errorf("after erase: %+v", u)
		}
		var joined struct {
			JoinedRooms []string `json:"joined_rooms"`
			Total       int      `json:"total"`
		}
		admin.MustDo("GET", adminV1+"/users/"+esc(bob.UserID)+"/joined_rooms", nil, &joined)
		if len(joined.JoinedRooms) != 0 || joined.Total != 0 {
			t.Errorf("bob's rooms after deactivation: %+v", joined)
		}
		admin.MustDo("GET", adminV1+"/users/"+esc(admin.UserID)+"/joined_rooms", nil, &joined)
		if !slices.Equal(joined.JoinedRooms, []string{room}) || joined.Total != 1 {
			t.Errorf("admin's rooms: %+v", joined)
		}

		status, raw = admin.Do("POST", adminV1+"/deactivate/"+esc("@nobody:localhost"), nil, nil)
		expectStatus(t, "unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("POST", adminV1+"/deactivate/"+esc("@x:elsewhere.org"), nil, nil)
		expectStatus(t, "remote user", status, raw, http.StatusBadRequest, "")
		status, raw = admin.Do("POST", adminV1+"/deactivate/"+esc(admin.UserID), map[string]any{"erase": "yes"}, nil)
		expectStatus(t, "erase not a boolean", status, raw, http.StatusBadRequest, "M_BAD_JSON")
	})
}

// POST /_synapse/admin/v1/reset_password/{userId}: the new password works
// at once; logout_devices (default true) ends the user's sessions, false
// keeps them.
func TestAdminAPI_ResetPassword(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		path := adminV1 + "/reset_password/" + esc(bob.UserID)
		admin.MustDo("POST", path, map[string]any{"new_password": "second", "logout_devices": false}, nil)
		bob.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		status, raw := passwordLogin(s, "bob", "correct horse battery staple")
		expectStatus(t, "old password", status, raw, http.StatusForbidden, "M_FORBIDDEN")
		loginPW(t, s, "bob", "second")

		admin.MustDo("POST", path, map[string]any{"new_password": "third"}, nil)
		status, raw = bob.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "token after reset with logout", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		loginPW(t, s, "bob", "third")

		status, raw = admin.Do("POST", path, map[string]any{}, nil)
		expectStatus(t, "no new_password", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
		status, raw = admin.Do("POST", adminV1+"/reset_password/"+esc("@nobody:localhost"), map[string]any{"new_password": "x"}, nil)
		expectStatus(t, "unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
	})
}

// The devices of a user: list, read, rename, delete one, delete several;
// whois shows the devices too.
func TestAdminAPI_Devices(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		second, third := login(t, s, "bob", "SECOND"), login(t, s, "bob", "THIRD")
		base := adminV2 + "/users/" + esc(bob.UserID) + "/devices"
		var list struct {
			Devices []struct {
				DeviceID    string  `json:"device_id"`
				UserID      string  `json:"user_id"`
				DisplayName *string `json:"display_name"`
				LastSeenTS  *int64  `json:"last_seen_ts"`
			} `json:"devices"`
			Total int `json:"total"`
		}
		admin.MustDo("GET", base, nil, &list)
		if list.Total != 3 || len(list.Devices) != 3 || list.Devices[0].UserID != bob.UserID {
			t.Fatalf("devices: %+v", list)
		}
		admin.MustDo("PUT", base+"/SECOND", map[string]any{"display_name": "Phone"}, nil)
		var one struct {
			DeviceID    string `json:"device_id"`
			DisplayName string `json:"display_name"`
		}
		admin.MustDo("GET", base+"/SECOND", nil, &one)
		if one.DeviceID != "SECOND" || one.DisplayName != "Phone" {
			t.Errorf("renamed device: %+v", one)
		}
		status, raw := admin.Do("GET", base+"/NOPE", nil, nil)
		expectStatus(t, "unknown device", status, raw, http.StatusNotFound, "M_NOT_FOUND")

		var who struct {
			UserID  string                     `json:"user_id"`
			Devices map[string]json.RawMessage `json:"devices"`
		}
		admin.MustDo("GET", adminV1+"/whois/"+esc(bob.UserID), nil, &who)
		if who.UserID != bob.UserID || len(who.Devices) != 3 {
			t.Errorf("whois: %+v", who)
		}

		admin.MustDo("DELETE", base+"/SECOND", nil, nil)
		status, raw = second.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "deleted device's token", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		admin.MustDo("DELETE", base+"/SECOND", nil, nil) // gone already: still 200
		admin.MustDo("POST", adminV2+"/users/"+esc(bob.UserID)+"/delete_devices",
			map[string]any{"devices": []string{"THIRD", bob.DeviceID}}, nil)
		status, raw = third.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "deleted devices' token", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		admin.MustDo("GET", base, nil, &list)
		if list.Total != 0 {
			t.Errorf("devices left: %+v", list)
		}
		status, raw = admin.Do("GET", adminV2+"/users/"+esc("@nobody:localhost")+"/devices", nil, nil)
		expectStatus(t, "unknown user", status, raw, http.StatusNotFound, "M_NOT_FOUND")
		status, raw = admin.Do("POST", adminV2+"/users/"+esc(bob.UserID)+"/delete_devices", map[string]any{}, nil)
		expectStatus(t, "no devices key", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
	})
}

// username_available, the admin flag, and logging in as a user.
func TestAdminAPI_UsernameAdminFlagAndLoginAs(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		admin, bob := newAdmin(t, s, "admin"), s.Register("bob")
		var avail map[string]bool
		admin.MustDo("GET", adminV1+"/username_available?username=newname", nil, &avail)
		if !avail["available"] {
			t.Errorf("username_available: %v", avail)
		}
		status, raw := admin.Do("GET", adminV1+"/username_available?username=bob", nil, nil)
		expectStatus(t, "taken name", status, raw, http.StatusBadRequest, "M_USER_IN_USE")
		status, raw = admin.Do("GET", adminV1+"/username_available?username="+url.QueryEscape("b b"), nil, nil)
		expectStatus(t, "invalid name", status, raw, http.StatusBadRequest, "M_INVALID_USERNAME")

		flag := adminV1 + "/users/" + esc(bob.UserID) + "/admin"
		var isAdmin map[string]bool
		admin.MustDo("GET", flag, nil, &isAdmin)
		if isAdmin["admin"] {
			t.Errorf("bob is an admin already")
		}
		admin.MustDo("PUT", flag, map[string]any{"admin": true}, nil)
		bob.MustDo("GET", adminV2+"/users", nil, nil) // bob may now use the admin API
		admin.MustDo("GET", flag, nil, &isAdmin)
		if !isAdmin["admin"] {
			t.Errorf("bob is no admin after PUT")
		}
		status, raw = admin.Do("PUT", adminV1+"/users/"+esc(admin.UserID)+"/admin", map[string]any{"admin": false}, nil)
		expectStatus(t, "self-demotion", status, raw, http.StatusBadRequest, "")
		status, raw = admin.Do("PUT", flag, map[string]any{}, nil)
		expectStatus(t, "no admin key", status, raw, http.StatusBadRequest, "M_MISSING_PARAM")
		admin.MustDo("PUT", flag, map[string]any{"admin": false}, nil)

		// Logging in as bob: the token acts as bob, and logging out with it
		// ends only that token, not bob's own session.
		var puppet struct {
			AccessToken string `json:"access_token"`
		}
		admin.MustDo("POST", adminV1+"/users/"+esc(bob.UserID)+"/login", map[string]any{}, &puppet)
		as := &servertest.Client{URL: s.URL, AccessToken: puppet.AccessToken}
		as = s.As(as)
		var who struct {
			UserID string `json:"user_id"`
		}
		as.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, &who)
		if who.UserID != bob.UserID {
			t.Fatalf("puppet token is %s", who.UserID)
		}
		as.MustDo("POST", "/_matrix/client/v3/logout", map[string]any{}, nil)
		status, raw = as.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil)
		expectStatus(t, "puppet token after logout", status, raw, http.StatusUnauthorized, "M_UNKNOWN_TOKEN")
		bob.MustDo("GET", "/_matrix/client/v3/account/whoami", nil, nil)

		status, raw = admin.Do("POST", adminV1+"/users/"+esc(admin.UserID)+"/login", map[string]any{}, nil)
		expectStatus(t, "login as self", status, raw, http.StatusBadRequest, "")
		status, raw = admin.Do("POST", adminV1+"/users/"+esc(bob.UserID)+"/login", map[string]any{"valid_until_ms": 1000}, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(raw), "past") {
			t.Errorf("valid_until_ms in the past: %d %s", status, raw)
		}
	})
}
