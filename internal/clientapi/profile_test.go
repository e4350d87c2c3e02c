package clientapi

import (
	"strings"
	"testing"
)

// Spec: profile.yaml.
func TestProfile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", nil).str("access_token")
		bob := r.register("bob", "pw", nil).str("access_token")
		base := "/_matrix/client/v3/profile/@alice:example.org"

		if got := r.do("GET", base, "", nil); got.status != 200 || got.str("displayname") != "alice" || got.body["avatar_url"] != nil {
			t.Errorf("initial profile: %d %v", got.status, got.body)
		}
		r.expect(r.do("GET", base+"/avatar_url", "", nil), 404, "M_NOT_FOUND")

		if got := r.do("PUT", base+"/displayname", token, map[string]any{"displayname": "Alice 🐇"}); got.status != 200 {
			t.Fatalf("set displayname: %d %v", got.status, got.body)
		}
		if got := r.do("PUT", base+"/avatar_url", token, map[string]any{"avatar_url": "mxc://example.org/rabbit"}); got.status != 200 {
			t.Fatalf("set avatar: %d %v", got.status, got.body)
		}
		got := r.do("GET", base, "", nil)
		if got.str("displayname") != "Alice 🐇" || got.str("avatar_url") != "mxc://example.org/rabbit" {
			t.Errorf("profile = %v", got.body)
		}
		if got := r.do("GET", base+"/displayname", "", nil); got.str("displayname") != "Alice 🐇" || len(got.body) != 1 {
			t.Errorf("displayname field = %v", got.body)
		}
		if !r.hooks.has("profile @alice:example.org") {
			t.Error("profile hook not called")
		}

		for name, tt := range map[string]struct {
			method, path, token string
			body                any
			status              int
			errcode             string
		}{
			"someone else's profile":  {"PUT", base + "/displayname", bob, map[string]any{"displayname": "x"}, 403, "M_FORBIDDEN"},
			"no token":                {"PUT", base + "/displayname", "", map[string]any{"displayname": "x"}, 401, "M_MISSING_TOKEN"},
			"missing key":             {"PUT", base + "/displayname", token, map[string]any{"other": "x"}, 400, "M_MISSING_PARAM"},
			"not a string":            {"PUT", base + "/displayname", token, map[string]any{"displayname": 5}, 400, "M_BAD_JSON"},
			"null":                    {"PUT", base + "/displayname", token, map[string]any{"displayname": nil}, 400, "M_BAD_JSON"},
			"too long":                {"PUT", base + "/displayname", token, map[string]any{"displayname": strings.Repeat("x", 257)}, 400, "M_INVALID_PARAM"},
			"avatar too long":         {"PUT", base + "/avatar_url", token, map[string]any{"avatar_url": "mxc://a/" + strings.Repeat("b", 1000)}, 400, "M_INVALID_PARAM"},
			"m.tz not a string":       {"PUT", base + "/m.tz", token, map[string]any{"m.tz": 5}, 400, "M_BAD_JSON"},
			"a second key":            {"PUT", base + "/org.example.job", token, map[string]any{"org.example.job": "x", "other": 1}, 400, "M_BAD_JSON"},
			"another's custom field":  {"PUT", base + "/org.example.job", bob, map[string]any{"org.example.job": "x"}, 403, "M_FORBIDDEN"},
			"invalid key":             {"PUT", base + "/Bad.Key", token, map[string]any{"Bad.Key": "x"}, 400, "M_INVALID_PARAM"},
			"key too long":            {"GET", base + "/a." + strings.Repeat("b", 300), "", nil, 400, "M_KEY_TOO_LARGE"},
			"unknown user":            {"GET", "/_matrix/client/v3/profile/@nobody:example.org", "", nil, 404, "M_NOT_FOUND"},
			"remote user":             {"GET", "/_matrix/client/v3/profile/@alice:elsewhere.org", "", nil, 404, "M_NOT_FOUND"},
			"unset custom field":      {"GET", base + "/m.tz", "", nil, 404, "M_NOT_FOUND"},
			"body over 64 KiB":        {"PUT", base + "/displayname", token, `{"displayname":"` + strings.Repeat("x", 70000) + `"}`, 413, "M_TOO_LARGE"},
			"bad token on open route": {"GET", base, "mya_bogus", nil, 401, "M_UNKNOWN_TOKEN"},
		} {
			got := r.do(tt.method, tt.path, tt.token, tt.body)
			if got.status != tt.status || got.errcode() != tt.errcode {
				t.Errorf("%s: %d %v, want %d %s", name, got.status, got.body, tt.status, tt.errcode)
			}
		}

		// DELETE removes a field (v1.16); setting "" does too.
		if got := r.do("DELETE", base+"/avatar_url", token, nil); got.status != 200 {
			t.Fatalf("delete avatar: %d %v", got.status, got.body)
		}
		r.expect(r.do("GET", base+"/avatar_url", "", nil), 404, "M_NOT_FOUND")
		r.do("PUT", base+"/displayname", token, map[string]any{"displayname": ""})
		if got := r.do("GET", base, "", nil); len(got.body) != 0 {
			t.Errorf("profile after clearing = %v", got.body)
		}
	})
}

func TestProfile_RequireAuth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", nil).str("access_token")
		r.expect(r.do("GET", "/_matrix/client/v3/profile/@alice:example.org", "", nil), 401, "M_MISSING_TOKEN")
		if got := r.do("GET", "/_matrix/client/v3/profile/@alice:example.org", token, nil); got.status != 200 {
			t.Errorf("with token: %d", got.status)
		}
	}, func(o *testOptions) { o.account.RequireAuthForProfileRequests = true })
}

// Spec v1.16 (profile.yaml, MSC4133): m.tz and custom fields hold any JSON
// value, are shown with the profile, and are removed by DELETE; the whole
// profile stays under 64 KiB (M_PROFILE_TOO_LARGE).
func TestProfile_CustomFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", nil).str("access_token")
		base := "/_matrix/client/v3/profile/@alice:example.org"
		for key, value := range map[string]any{"m.tz": "Europe/Paris", "org.example.job": map[string]any{"title": "baker"}, "org.example.none": nil} {
			if got := r.do("PUT", base+"/"+key, token, map[string]any{key: value}); got.status != 200 {
				t.Fatalf("set %s: %d %v", key, got.status, got.body)
			}
		}
		got := r.do("GET", base, "", nil)
		job, _ := got.body["org.example.job"].(map[string]any)
		if got.str("m.tz") != "Europe/Paris" || job["title"] != "baker" || got.str("displayname") != "alice" {
			t.Errorf("profile = %v", got.body)
		}
		if v, ok := got.body["org.example.none"]; !ok || v != nil {
			t.Errorf("a null field is kept as null (the spec's SHOULD): %v", got.body)
		}
		if got := r.do("GET", base+"/m.tz", "", nil); got.str("m.tz") != "Europe/Paris" || len(got.body) != 1 {
			t.Errorf("m.tz = %v", got.body)
		}
		if got := r.do("DELETE", base+"/m.tz", token, nil); got.status != 200 {
			t.Fatalf("delete m.tz: %d %v", got.status, got.body)
		}
		r.expect(r.do("GET", base+"/m.tz", "", nil), 404, "M_NOT_FOUND")

		big := strings.Repeat("x", 40_000)
		if got := r.do("PUT", base+"/org.example.a", token, map[string]any{"org.example.a": big}); got.status != 200 {
			t.Fatalf("first large field: %d %v", got.status, got.body)
		}
		r.expect(r.do("PUT", base+"/org.example.b", token, map[string]any{"org.example.b": big}), 400, "M_PROFILE_TOO_LARGE")
		// Replacing a field counts its new value only.
		if got := r.do("PUT", base+"/org.example.a", token, map[string]any{"org.example.a": big + "y"}); got.status != 200 {
			t.Errorf("replacing the large field: %d %v", got.status, got.body)
		}

		caps := r.do("GET", "/_matrix/client/v3/capabilities", token, nil).body["capabilities"].(map[string]any)
		if pf, _ := caps["m.profile_fields"].(map[string]any); pf["enabled"] != true || pf["allowed"] != nil || pf["disallowed"] != nil {
			t.Errorf("m.profile_fields = %v", caps["m.profile_fields"])
		}
	})
}
