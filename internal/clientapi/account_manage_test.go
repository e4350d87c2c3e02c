package clientapi

import (
	"context"
	"testing"
)

// Spec: password_management.yaml — UIA with the current password;
// logout_devices defaults to true and keeps the caller's session.
func TestChangePassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "old-pw", nil).str("access_token")
		other := r.mustLogin("alice", "old-pw", nil)

		r.expect(r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{}), 400, "M_MISSING_PARAM")
		first := r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{"new_password": "new-pw"})
		if first.status != 401 || first.str("session") == "" {
			t.Fatalf("first round: %d %v", first.status, first.body)
		}
		wrong := r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{
			"new_password": "new-pw", "auth": passwordAuth("alice", "bad", first.str("session"))})
		r.expect(wrong, 401, "M_FORBIDDEN")

		got := r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{
			"new_password": "new-pw", "auth": passwordAuth("alice", "old-pw", first.str("session"))})
		if got.status != 200 {
			t.Fatalf("change: %d %v", got.status, got.body)
		}
		r.tokenRevoked(other, false)
		if r.whoami(token).status != 200 {
			t.Error("the caller's token must survive")
		}
		r.expect(r.login("alice", "old-pw", nil), 403, "M_FORBIDDEN")
		kept := r.mustLogin("alice", "new-pw", nil)

		// logout_devices: false keeps the other sessions.
		got = r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{
			"new_password": "newer-pw", "logout_devices": false, "auth": passwordAuth("alice", "new-pw", "")})
		if got.status != 200 {
			t.Fatalf("second change: %d %v", got.status, got.body)
		}
		if r.whoami(kept).status != 200 {
			t.Error("logout_devices: false logged out another device")
		}
	})
}

func TestChangePassword_PolicyBeforeUIA(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "longenough", nil).str("access_token")
		r.expect(r.do("POST", "/_matrix/client/v3/account/password", token, map[string]any{"new_password": "short"}), 400, "M_WEAK_PASSWORD")
	}, func(o *testOptions) {
		o.users.Policy.Enabled = true
		o.users.Policy.MinimumLength = 8
	})
}

// Spec: account_deactivation.yaml.
func TestDeactivate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", nil).str("access_token")
		other := r.mustLogin("alice", "secret", nil)
		r.do("PUT", "/_matrix/client/v3/profile/@alice:example.org/avatar_url", token, map[string]any{"avatar_url": "mxc://example.org/abc"})

		first := r.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{})
		if first.status != 401 {
			t.Fatalf("first round: %d %v", first.status, first.body)
		}
		got := r.do("POST", "/_matrix/client/v3/account/deactivate", token, map[string]any{
			"erase": true, "auth": passwordAuth("alice", "secret", first.str("session"))})
		if got.status != 200 || got.str("id_server_unbind_result") != "success" {
			t.Fatalf("deactivate: %d %v", got.status, got.body)
		}
		r.tokenRevoked(token, false)
		r.tokenRevoked(other, false)
		r.expect(r.login("alice", "secret", nil), 403, "M_USER_DEACTIVATED")
		if !r.hooks.has("deactivate @alice:example.org") {
			t.Error("deactivation hook not called")
		}
		// Erased: the profile is gone, and the ID is not reusable.
		r.expect(r.do("GET", "/_matrix/client/v3/profile/@alice:example.org/avatar_url", "", nil), 404, "M_NOT_FOUND")
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "alice", "password": "x"}), 400, "M_USER_IN_USE")
		u, err := r.store.GetUser(context.Background(), "@alice:example.org")
		if err != nil || !u.Deactivated || !u.Erased || u.PasswordHash != "" {
			t.Errorf("stored user = %+v, %v", u, err)
		}
	})
}

func TestThreepidsAndWhois(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", map[string]any{"device_id": "ONE"}).str("access_token")
		got := r.do("GET", "/_matrix/client/v3/account/3pid", token, nil)
		if tp, ok := got.body["threepids"].([]any); got.status != 200 || !ok || len(tp) != 0 {
			t.Errorf("3pid: %d %v", got.status, got.body)
		}

		got = r.do("GET", "/_matrix/client/v3/admin/whois/@alice:example.org", token, nil)
		devices, _ := got.body["devices"].(map[string]any)
		one, _ := devices["ONE"].(map[string]any)
		if got.status != 200 || one == nil || jsonString(one) == "" {
			t.Fatalf("whois: %d %v", got.status, got.body)
		}
		sessions := one["sessions"].([]any)
		conns := sessions[0].(map[string]any)["connections"].([]any)
		if c := conns[0].(map[string]any); c["ip"] != "127.0.0.1" || c["user_agent"] != "myelin-test" {
			t.Errorf("connection = %v", c)
		}
		bob := r.register("bob", "pw", nil).str("access_token")
		r.expect(r.do("GET", "/_matrix/client/v3/admin/whois/@alice:example.org", bob, nil), 403, "M_FORBIDDEN")
	})
}
