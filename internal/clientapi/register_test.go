package clientapi

import (
	"context"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"strings"
	"testing"
	"time"
)

// Spec: client-server-api "User-Interactive Authentication API" — a request
// without auth gets 401 with flows and a session, even when only
// m.login.dummy is offered; completing the stage registers.
func TestRegister_DummyFlowWithSession(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		body := map[string]any{"username": "alice", "password": "secret", "initial_device_display_name": "Phone"}
		first := r.do("POST", "/_matrix/client/v3/register", "", body)
		if first.status != 401 {
			t.Fatalf("first round: %d %v", first.status, first.body)
		}
		session := first.str("session")
		flows, _ := first.body["flows"].([]any)
		if session == "" || len(flows) != 1 || !strings.Contains(jsonString(flows[0]), "m.login.dummy") {
			t.Fatalf("401 body = %v", first.body)
		}
		if _, ok := first.body["params"].(map[string]any); !ok {
			t.Errorf("params missing: %v", first.body)
		}

		body["auth"] = map[string]any{"type": "m.login.dummy", "session": "no-such-session"}
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", body), 400, "M_UNKNOWN")

		body["auth"] = map[string]any{"type": "m.login.dummy", "session": session}
		got := r.do("POST", "/_matrix/client/v3/register", "", body)
		if got.status != 200 {
			t.Fatalf("second round: %d %v", got.status, got.body)
		}
		if got.str("user_id") != "@alice:example.org" || got.str("access_token") == "" || got.str("device_id") == "" ||
			got.str("home_server") != "example.org" {
			t.Errorf("response = %v", got.body)
		}
		if _, ok := got.body["refresh_token"]; ok {
			t.Error("refresh token given without refresh_token: true")
		}
		who := r.whoami(got.str("access_token"))
		if who.str("user_id") != "@alice:example.org" || who.str("device_id") != got.str("device_id") || who.body["is_guest"] != false {
			t.Errorf("whoami = %v", who.body)
		}
		dev, _ := r.store.GetDevice(context.Background(), "@alice:example.org", got.str("device_id"))
		if dev == nil || dev.DisplayName != "Phone" {
			t.Errorf("device = %+v", dev)
		}
		// The display name defaults to the localpart, as in Synapse.
		if p := r.do("GET", "/_matrix/client/v3/profile/@alice:example.org", "", nil); p.str("displayname") != "alice" {
			t.Errorf("profile = %v", p.body)
		}
	})
}

// Spec: registration.yaml — errors of the username and kind.
func TestRegister_Rules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("taken", "pw", nil)
		dummy := map[string]any{"type": "m.login.dummy"}
		tests := []struct {
			name    string
			query   string
			body    map[string]any
			status  int
			errcode string
		}{
			// MUST be returned before UIA: no auth in these requests.
			{"user in use", "", map[string]any{"username": "taken", "password": "pw"}, 400, "M_USER_IN_USE"},
			{"user in use in other case", "", map[string]any{"username": "TAKEN", "password": "pw"}, 400, "M_USER_IN_USE"},
			{"invalid characters", "", map[string]any{"username": "al ice", "password": "pw"}, 400, "M_INVALID_USERNAME"},
			{"non-ASCII", "", map[string]any{"username": "alïce", "password": "pw"}, 400, "M_INVALID_USERNAME"},
			{"numeric is reserved", "", map[string]any{"username": "12345", "password": "pw"}, 400, "M_INVALID_USERNAME"},
			{"user ID over 255 bytes", "", map[string]any{"username": strings.Repeat("a", 250), "password": "pw"}, 400, "M_INVALID_USERNAME"},
			{"unknown kind", "?kind=admin", map[string]any{"username": "x", "auth": dummy}, 400, "M_INVALID_PARAM"},
			{"guests disabled", "?kind=guest", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
			{"not JSON", "", nil, 400, "M_NOT_JSON"},
			{"wrong type", "", map[string]any{"username": 5}, 400, "M_BAD_JSON"},
			{"unknown auth type", "", map[string]any{"username": "bob", "auth": map[string]any{"type": "m.login.recaptcha"}}, 401, "M_UNRECOGNIZED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body any = tt.body
				if tt.body == nil {
					body = "not json"
				}
				r.expect(r.do("POST", "/_matrix/client/v3/register"+tt.query, "", body), tt.status, tt.errcode)
			})
		}

		got := r.register("MixedCase", "pw", nil)
		if got.str("user_id") != "@mixedcase:example.org" {
			t.Errorf("upper case is folded: got %s", got.str("user_id"))
		}
		got = r.register("", "pw", nil)
		if !strings.HasPrefix(got.str("user_id"), "@") || !strings.HasSuffix(got.str("user_id"), ":example.org") {
			t.Errorf("generated ID = %s", got.str("user_id"))
		}
		got = r.register("quiet", "pw", map[string]any{"inhibit_login": true})
		if got.str("user_id") != "@quiet:example.org" || got.body["access_token"] != nil || got.body["device_id"] != nil {
			t.Errorf("inhibit_login response = %v", got.body)
		}
		got = r.register("withdevice", "pw", map[string]any{"device_id": "MYDEVICE", "refresh_token": true})
		if got.str("device_id") != "MYDEVICE" || got.str("refresh_token") == "" || got.body["expires_in_ms"] != float64(300000) {
			t.Errorf("device_id/refresh_token response = %v", got.body)
		}
		if !r.hooks.has("device updated @withdevice:example.org MYDEVICE") {
			t.Error("device hook not called on registration")
		}
		// The r0 prefix is served too.
		got = r.do("POST", "/_matrix/client/r0/register", "", map[string]any{"username": "old", "password": "pw", "auth": dummy})
		if got.status != 200 {
			t.Errorf("r0 register: %d %v", got.status, got.body)
		}
	})
}

// Clients probe the flows with an empty body; the password is only
// demanded once UIA is done.
func TestRegister_EmptyProbeThenMissingPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		probe := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{})
		if probe.status != 401 || probe.str("session") == "" {
			t.Fatalf("probe: %d %v", probe.status, probe.body)
		}
		got := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "nopw",
			"auth": map[string]any{"type": "m.login.dummy", "session": probe.str("session")}})
		r.expect(got, 400, "M_MISSING_PARAM")
	})
}

func TestRegister_DeviceParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		dummy := map[string]any{"type": "m.login.dummy"}
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw",
			"device_id": strings.Repeat("D", 256), "auth": dummy}), 400, "M_INVALID_PARAM")
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "pw",
			"device_id": "bad\nid", "auth": dummy}), 400, "M_INVALID_PARAM")
		got := r.register("a", "pw", map[string]any{"initial_device_display_name": strings.Repeat("é", 80)})
		dev := r.do("GET", "/_matrix/client/v3/devices/"+got.str("device_id"), got.str("access_token"), nil)
		if name := dev.str("display_name"); len(name) != 100 || name != strings.Repeat("é", 50) {
			t.Errorf("long device name kept as %d bytes: %q", len(name), name)
		}
		r.expect(r.login("a", "pw", map[string]any{"device_id": strings.Repeat("D", 256)}), 400, "M_INVALID_PARAM")
	})
}

// Spec: password_management.yaml warning box — servers MAY reject weak
// passwords with M_WEAK_PASSWORD; checked before UIA.
func TestRegister_PasswordPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		for _, tt := range []struct{ password, errcode string }{
			{"Sh0rt!", "M_WEAK_PASSWORD"},
			{"nodigits!Here", "M_WEAK_PASSWORD"},
			{"N0symbolsHere", "M_WEAK_PASSWORD"},
			{"N0LOWER!CASE", "M_WEAK_PASSWORD"},
			{"n0upper!case", "M_WEAK_PASSWORD"},
			{"G00d!Password", ""},
		} {
			got := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "u" + strings.ToLower(tt.password[:3]), "password": tt.password})
			if tt.errcode == "" {
				if got.status != 401 {
					t.Errorf("%q: %d %v, want the UIA 401", tt.password, got.status, got.body)
				}
				continue
			}
			if got.status != 400 || got.errcode() != tt.errcode {
				t.Errorf("%q: %d %v, want 400 %s", tt.password, got.status, got.body, tt.errcode)
			}
		}
	}, func(o *testOptions) {
		o.users.Policy.Enabled = true
		o.users.Policy.MinimumLength = 8
		o.users.Policy.RequireDigit = true
		o.users.Policy.RequireSymbol = true
		o.users.Policy.RequireLowercase = true
		o.users.Policy.RequireUppercase = true
	})
}

func TestRegister_Disabled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "b"}), 403, "M_FORBIDDEN")
		r.expect(r.do("GET", "/_matrix/client/v3/register/available?username=a", "", nil), 403, "M_FORBIDDEN")
	}, func(o *testOptions) { o.account.EnableRegistration = false })
	// Enabled but with verification required: no stage Myelin offers can
	// satisfy it.
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.expect(r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "a", "password": "b"}), 403, "M_FORBIDDEN")
	}, func(o *testOptions) { o.account.RegistrationWithoutVerification = false })
}

// Spec: modules/guest_access — guests register with kind=guest and without
// UIA, and may only use some endpoints.
func TestRegister_Guest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		got := r.do("POST", "/_matrix/client/v3/register?kind=guest", "", map[string]any{
			"username": "ignored", "device_id": "IGNORED", "initial_device_display_name": "Guest phone"})
		if got.status != 200 {
			t.Fatalf("guest register: %d %v", got.status, got.body)
		}
		if got.str("user_id") == "@ignored:example.org" || got.str("device_id") == "IGNORED" {
			t.Errorf("guest parameters were not ignored: %v", got.body)
		}
		token := got.str("access_token")
		if who := r.whoami(token); who.body["is_guest"] != true {
			t.Errorf("whoami = %v", who.body)
		}
		r.expect(r.do("GET", "/_matrix/client/v3/capabilities", token, nil), 403, "M_GUEST_ACCESS_FORBIDDEN")
		if got := r.do("GET", "/_matrix/client/v3/devices", token, nil); got.status != 200 {
			t.Errorf("guest GET /devices: %d", got.status)
		}
		// Guests may change their display name but not their avatar.
		profile := "/_matrix/client/v3/profile/" + got.str("user_id")
		if got := r.do("PUT", profile+"/displayname", token, map[string]any{"displayname": "G"}); got.status != 200 {
			t.Errorf("guest displayname: %d %v", got.status, got.body)
		}
		r.expect(r.do("PUT", profile+"/avatar_url", token, map[string]any{"avatar_url": "mxc://example.org/a"}),
			403, "M_GUEST_ACCESS_FORBIDDEN")
	}, func(o *testOptions) { o.account.AllowGuestAccess = true })
}

func TestRegisterAvailable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("taken", "pw", nil)
		got := r.do("GET", "/_matrix/client/v3/register/available?username=free", "", nil)
		if got.status != 200 || got.body["available"] != true {
			t.Errorf("free: %d %v", got.status, got.body)
		}
		r.expect(r.do("GET", "/_matrix/client/v3/register/available?username=taken", "", nil), 400, "M_USER_IN_USE")
		r.expect(r.do("GET", "/_matrix/client/v3/register/available?username=b%20d", "", nil), 400, "M_INVALID_USERNAME")
		r.expect(r.do("GET", "/_matrix/client/v3/register/available", "", nil), 400, "M_MISSING_PARAM")
	})
}

// rc_registration: registrations per client address.
func TestRegister_RateLimited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.register("first", "pw", nil)
		got := r.do("POST", "/_matrix/client/v3/register", "", map[string]any{"username": "second", "auth": map[string]any{"type": "m.login.dummy"}})
		r.expect(got, 429, "M_LIMIT_EXCEEDED")
		if got.header.Get("Retry-After") != "10" {
			t.Errorf("Retry-After = %q, want 10", got.header.Get("Retry-After"))
		}
		r.clock.Advance(10 * time.Second)
		r.register("second", "pw", nil)
	}, withLimits(ratelimit.Registration, ratelimit.Limit{PerSecond: 0.1, BurstCount: 1}))
}

func jsonString(v any) string {
	var b strings.Builder
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			b.WriteString(k + "=" + jsonString(val) + ";")
		}
	case []any:
		for _, val := range x {
			b.WriteString(jsonString(val) + ",")
		}
	case string:
		b.WriteString(x)
	}
	return b.String()
}
