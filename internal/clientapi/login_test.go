package clientapi

import (
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"testing"
	"time"
)

// Spec: client-server-api "Login" (login.yaml) and "Identifier types".
func TestLogin_PasswordAndIdentifiers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", nil)

		flows := r.do("GET", "/_matrix/client/v3/login", "", nil)
		if flows.status != 200 || jsonString(flows.body["flows"]) != "type=m.login.password;," {
			t.Errorf("GET /login = %d %v", flows.status, flows.body)
		}

		for name, body := range map[string]map[string]any{
			"localpart":          {"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "alice"}, "password": "secret"},
			"full user ID":       {"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "@alice:example.org"}, "password": "secret"},
			"upper-case":         {"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": "ALICE"}, "password": "secret"},
			"deprecated user":    {"type": "m.login.password", "user": "alice", "password": "secret"},
			"deprecated user ID": {"type": "m.login.password", "user": "@alice:example.org", "password": "secret"},
		} {
			got := r.do("POST", "/_matrix/client/v3/login", "", body)
			if got.status != 200 || got.str("user_id") != "@alice:example.org" || got.str("access_token") == "" || got.str("device_id") == "" {
				t.Errorf("%s: %d %v", name, got.status, got.body)
				continue
			}
			wk, _ := got.body["well_known"].(map[string]any)
			if hs, _ := wk["m.homeserver"].(map[string]any); hs["base_url"] != "https://matrix.example.org/" {
				t.Errorf("%s: well_known = %v", name, got.body["well_known"])
			}
		}

		for name, tt := range map[string]struct {
			body    map[string]any
			status  int
			errcode string
		}{
			"wrong password":      {map[string]any{"type": "m.login.password", "user": "alice", "password": "nope"}, 403, "M_FORBIDDEN"},
			"unknown user":        {map[string]any{"type": "m.login.password", "user": "bob", "password": "secret"}, 403, "M_FORBIDDEN"},
			"other server's user": {map[string]any{"type": "m.login.password", "user": "@alice:elsewhere.org", "password": "secret"}, 403, "M_FORBIDDEN"},
			"3PID identifier":     {map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}, "password": "secret"}, 403, "M_FORBIDDEN"},
			"unknown login type":  {map[string]any{"type": "m.login.magic", "user": "alice"}, 400, "M_UNKNOWN"},
			"token login":         {map[string]any{"type": "m.login.token", "token": "abc"}, 400, "M_UNKNOWN"},
			"no identifier":       {map[string]any{"type": "m.login.password", "password": "secret"}, 400, "M_MISSING_PARAM"},
			"bad identifier type": {map[string]any{"type": "m.login.password", "identifier": map[string]any{"type": "m.id.nope"}, "password": "secret"}, 400, "M_UNKNOWN"},
		} {
			got := r.do("POST", "/_matrix/client/v3/login", "", tt.body)
			if got.status != tt.status || got.errcode() != tt.errcode {
				t.Errorf("%s: %d %v, want %d %s", name, got.status, got.body, tt.status, tt.errcode)
			}
		}
	})
}

// Spec: client-server-api "Relationship between access tokens and devices"
// — logging in with an existing device_id invalidates that device's tokens.
func TestLogin_DeviceReuseReplacesTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", nil)
		first := r.mustLogin("alice", "secret", map[string]any{"device_id": "LAPTOP", "initial_device_display_name": "Laptop"})
		other := r.mustLogin("alice", "secret", nil)
		second := r.login("alice", "secret", map[string]any{"device_id": "LAPTOP", "initial_device_display_name": "Ignored"})
		if second.str("device_id") != "LAPTOP" {
			t.Fatalf("device_id = %v", second.body)
		}
		r.tokenRevoked(first, false)
		if r.whoami(other).status != 200 || r.whoami(second.str("access_token")).status != 200 {
			t.Error("other tokens must stay valid")
		}
		dev := r.do("GET", "/_matrix/client/v3/devices/LAPTOP", second.str("access_token"), nil)
		if dev.str("display_name") != "Laptop" {
			t.Errorf("known device's name changed: %v", dev.body)
		}
	})
}

// Spec: client-server-api "Using access tokens".
func TestAuth_TokenErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", nil).str("access_token")
		r.expect(r.whoami(""), 401, "M_MISSING_TOKEN")
		r.tokenRevoked("mya_not-a-real-token", false)
		// The deprecated query parameter still works.
		if got := r.do("GET", "/_matrix/client/v3/account/whoami?access_token="+token, "", nil); got.status != 200 {
			t.Errorf("query token: %d %v", got.status, got.body)
		}
	})
}

// Spec: client-server-api "Refreshing access tokens" and "Soft logout".
func TestRefresh_Rotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", nil)
		noRefresh := r.login("alice", "secret", nil)
		if noRefresh.body["refresh_token"] != nil || noRefresh.body["expires_in_ms"] != nil {
			t.Errorf("refresh token without refresh_token: true: %v", noRefresh.body)
		}

		first := r.login("alice", "secret", map[string]any{"refresh_token": true})
		access0, refresh0 := first.str("access_token"), first.str("refresh_token")
		if refresh0 == "" || first.body["expires_in_ms"] != float64(300_000) {
			t.Fatalf("login response = %v", first.body)
		}
		if r.whoami(access0).status != 200 {
			t.Fatal("fresh token refused")
		}

		// Past its lifetime the token is soft-logged-out.
		r.clock.Advance(5*time.Minute + time.Second)
		r.tokenRevoked(access0, true)
		if r.whoami(noRefresh.str("access_token")).status != 200 {
			t.Error("a non-refreshable token must not expire")
		}

		got := r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": refresh0})
		if got.status != 200 || got.str("access_token") == "" || got.str("refresh_token") == "" || got.body["expires_in_ms"] != float64(300_000) {
			t.Fatalf("refresh: %d %v", got.status, got.body)
		}
		// A retry with the old refresh token (the response was lost) works
		// while the new tokens are unused.
		retry := r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": refresh0})
		if retry.status != 200 {
			t.Fatalf("retried refresh: %d %v", retry.status, retry.body)
		}
		r.tokenRevoked(got.str("access_token"), false) // the lost pair is gone
		access1, refresh1 := retry.str("access_token"), retry.str("refresh_token")
		who := r.whoami(access1)
		if who.status != 200 || who.str("device_id") != first.str("device_id") {
			t.Fatalf("refreshed token: %d %v", who.status, who.body)
		}
		// Now that the new token was used, the old refresh token is revoked.
		r.expect(r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": refresh0}), 401, "M_UNKNOWN_TOKEN")
		if got := r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": refresh1}); got.status != 200 {
			t.Errorf("refresh with the new token: %d %v", got.status, got.body)
		}

		r.expect(r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{}), 400, "M_MISSING_PARAM")
		r.expect(r.do("POST", "/_matrix/client/v3/refresh", "", map[string]any{"refresh_token": "myr_bogus"}), 401, "M_UNKNOWN_TOKEN")
	})
}

// Spec: logout.yaml.
func TestLogout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		reg := r.register("alice", "secret", nil)
		a := reg.str("access_token")
		b := r.mustLogin("alice", "secret", nil)
		c := r.mustLogin("alice", "secret", nil)

		// No body is needed.
		if got := r.do("POST", "/_matrix/client/v3/logout", b, nil); got.status != 200 {
			t.Fatalf("logout: %d %v", got.status, got.body)
		}
		r.tokenRevoked(b, false)
		devices := r.do("GET", "/_matrix/client/v3/devices", a, nil)
		if n := len(devices.body["devices"].([]any)); n != 2 {
			t.Errorf("%d devices after logout, want 2", n)
		}

		if got := r.do("POST", "/_matrix/client/v3/logout/all", c, nil); got.status != 200 {
			t.Fatalf("logout/all: %d %v", got.status, got.body)
		}
		r.tokenRevoked(a, false)
		r.tokenRevoked(c, false)
		r.expect(r.do("POST", "/_matrix/client/v3/logout", c, nil), 401, "M_UNKNOWN_TOKEN")
		if !r.hooks.hasPrefix("devices deleted @alice:example.org ") {
			t.Error("device deletion hook not called")
		}
	})
}

// rc_login: per address, per account, and failed attempts per account.
func TestLogin_RateLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", nil)
		r.expect(r.login("alice", "wrong", nil), 403, "M_FORBIDDEN")
		r.expect(r.login("alice", "wrong", nil), 403, "M_FORBIDDEN")
		// Two failures exhaust rc_login.failed_attempts: even the right
		// password is refused until it refills.
		got := r.login("alice", "secret", nil)
		r.expect(got, 429, "M_LIMIT_EXCEEDED")
		if got.header.Get("Retry-After") == "" || got.body["retry_after_ms"] == nil {
			t.Errorf("no retry hint: %v %v", got.header, got.body)
		}
		r.clock.Advance(10 * time.Second)
		r.mustLogin("alice", "secret", nil)
	}, withLimits(ratelimit.LoginFailed, ratelimit.Limit{PerSecond: 0.1, BurstCount: 2}))
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("alice", "secret", nil)
		r.mustLogin("alice", "secret", nil)
		r.mustLogin("alice", "secret", nil)
		r.expect(r.login("bob", "secret", nil), 429, "M_LIMIT_EXCEEDED") // same address
	}, withLimits(ratelimit.LoginAddress, ratelimit.Limit{PerSecond: 0.01, BurstCount: 2}))
}
