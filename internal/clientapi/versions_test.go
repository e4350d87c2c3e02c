package clientapi

import (
	"slices"
	"testing"
)

// Spec: client-server-api "API Versions" (versions.yaml). Only versions
// whose version-gated features are all served are listed (up to v1.19,
// the spec at hand); later ones are not yet.
func TestVersions_ListsOnlyVersionsWhoseEndpointsExist(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		got := r.do("GET", "/_matrix/client/versions", "", nil)
		if got.status != 200 {
			t.Fatalf("status %d", got.status)
		}
		var versions []string
		for _, v := range got.body["versions"].([]any) {
			versions = append(versions, v.(string))
		}
		for _, want := range []string{"r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19"} {
			if !slices.Contains(versions, want) {
				t.Errorf("versions %v lack %s", versions, want)
			}
		}
		for _, unserved := range []string{"v1.20"} {
			if slices.Contains(versions, unserved) {
				t.Errorf("versions %v claim %s", versions, unserved)
			}
		}
		// Only stable flags of features served whole.
		uf, _ := got.body["unstable_features"].(map[string]any)
		want := map[string]any{"org.matrix.msc3916.stable": true, "org.matrix.msc2285.stable": true, "org.matrix.e2e_cross_signing": true,
			"org.matrix.msc3440.stable": true, "org.matrix.msc3856.stable": true, "org.matrix.msc3715.stable": true}
		if len(uf) != len(want) {
			t.Errorf("unstable_features = %v, want %v", uf, want)
		}
		for k, v := range want {
			if uf[k] != v {
				t.Errorf("unstable_features[%q] = %v, want %v", k, uf[k], v)
			}
		}
		if got.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no CORS header")
		}
		// v1.15: a server without the OAuth 2.0 API answers this.
		r.expect(r.do("GET", "/_matrix/client/v1/auth_metadata", "", nil), 404, "M_UNRECOGNIZED")
		// v1.10 (MSC4026): the endpoint may be called with a token, even
		// one the server does not know.
		if got := r.do("GET", "/_matrix/client/versions", "not-a-token", nil); got.status != 200 {
			t.Errorf("with an unknown token: %d %v", got.status, got.body)
		}
	})
}

// Spec: client-server-api "Well-known URIs" (wellknown.yaml).
func TestWellKnown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		got := r.do("GET", "/.well-known/matrix/client", "", nil)
		hs, _ := got.body["m.homeserver"].(map[string]any)
		if got.status != 200 || hs["base_url"] != "https://matrix.example.org/" {
			t.Errorf("client well-known: %d %v", got.status, got.body)
		}
		// serve_server_wellknown is off in the rig.
		r.expect(r.do("GET", "/.well-known/matrix/server", "", nil), 404, "M_UNRECOGNIZED")
	})
	forEachBackend(t, func(t *testing.T, r *rig) {
		got := r.do("GET", "/.well-known/matrix/server", "", nil)
		if got.status != 200 || got.body["m.server"] != "matrix.example.org:443" {
			t.Errorf("server well-known: %d %v", got.status, got.body)
		}
	}, func(o *testOptions) { o.account.ServeServerWellKnown = true })
}

// Spec: client-server-api "Getting the support information" (support.yaml,
// v1.10): admin_contact is announced; without it, 404.
func TestWellKnownSupport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.expect(r.do("GET", "/.well-known/matrix/support", "", nil), 404, "M_NOT_FOUND")
	})
	for contact, want := range map[string]map[string]any{
		"mailto:admin@example.org": {"role": "m.role.admin", "email_address": "admin@example.org"},
		"@admin:example.org":       {"role": "m.role.admin", "matrix_id": "@admin:example.org"},
	} {
		forEachBackend(t, func(t *testing.T, r *rig) {
			got := r.do("GET", "/.well-known/matrix/support", "", nil)
			contacts, _ := got.body["contacts"].([]any)
			if got.status != 200 || len(contacts) != 1 {
				t.Fatalf("support: %d %v", got.status, got.body)
			}
			c := contacts[0].(map[string]any)
			if len(c) != len(want) {
				t.Errorf("contact %v, want %v", c, want)
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("contact %v, want %v", c, want)
				}
			}
		}, func(o *testOptions) { o.account.AdminContact = contact })
	}
}

// Spec: client-server-api "Capabilities negotiation".
func TestCapabilities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		r.expect(r.do("GET", "/_matrix/client/v3/capabilities", "", nil), 401, "M_MISSING_TOKEN")
		token := r.register("alice", "pw", nil).str("access_token")
		got := r.do("GET", "/_matrix/client/v3/capabilities", token, nil)
		if got.status != 200 {
			t.Fatalf("status %d %v", got.status, got.body)
		}
		caps := got.body["capabilities"].(map[string]any)
		rv := caps["m.room_versions"].(map[string]any)
		if rv["default"] != "12" {
			t.Errorf("default room version = %v", rv["default"])
		}
		avail := rv["available"].(map[string]any)
		for _, v := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"} {
			if avail[v] != "stable" {
				t.Errorf("room version %s = %v, want stable", v, avail[v])
			}
		}
		for cap, want := range map[string]bool{"m.change_password": true, "m.set_displayname": true,
			"m.set_avatar_url": true, "m.3pid_changes": false} {
			if c, _ := caps[cap].(map[string]any); c["enabled"] != want {
				t.Errorf("%s = %v, want enabled %v", cap, caps[cap], want)
			}
		}
		// r0 works too.
		if got := r.do("GET", "/_matrix/client/r0/capabilities", token, nil); got.status != 200 {
			t.Errorf("r0: %d", got.status)
		}
	})
}

// Spec v1.13 (MSC4178): requestToken for a medium the server cannot add
// answers M_THREEPID_MEDIUM_NOT_SUPPORTED. Here email is not configured,
// and phone numbers never are.
func TestRequestToken_UnsupportedMedium(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		email := map[string]any{"client_secret": "s3cret", "email": "a@example.org", "send_attempt": 1}
		phone := map[string]any{"client_secret": "s3cret", "country": "GB", "phone_number": "07700900001", "send_attempt": 1}
		r.expect(r.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", email), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
		for _, p := range []string{"account/3pid", "register", "account/password"} {
			r.expect(r.do("POST", "/_matrix/client/v3/"+p+"/msisdn/requestToken", "", phone), 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
		}
		// Synapse's answer when email registration is off.
		r.expect(r.do("POST", "/_matrix/client/v3/register/email/requestToken", "", email), 400, "M_UNKNOWN")
	})
}
