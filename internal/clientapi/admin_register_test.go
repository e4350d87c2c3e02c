package clientapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"
)

const testSharedSecret = "ThisIsTheSharedSecret"

// synapseMAC computes the MAC the way Synapse's documentation describes
// it (register_api.md), independently of internal/sharedsecret.
func synapseMAC(secret, nonce, user, password string, admin bool, userType string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce + "\x00" + user + "\x00" + password + "\x00"))
	if admin {
		m.Write([]byte("admin"))
	} else {
		m.Write([]byte("notadmin"))
	}
	if userType != "" {
		m.Write([]byte("\x00" + userType))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// The helper agrees with Python's hmac module:
// hmac.new(b"ThisIsTheSharedSecret", b"abcdef0123456789\0alice\0correct horse\0admin", hashlib.sha1).hexdigest()
func TestSynapseMAC_KnownVectors(t *testing.T) {
	for _, tt := range []struct {
		nonce, user, password string
		admin                 bool
		userType, want        string
	}{
		{"abcdef0123456789", "alice", "correct horse", true, "", "080a605ba476956317f0f44e6c6dedf83e63655b"},
		{"abcdef0123456789", "bot1", "pw", false, "bot", "97420f5e42a2e8b2aa2c83a519dc1deab4ab4dd3"},
	} {
		if got := synapseMAC(testSharedSecret, tt.nonce, tt.user, tt.password, tt.admin, tt.userType); got != tt.want {
			t.Errorf("MAC(%s) = %s, want %s", tt.user, got, tt.want)
		}
	}
}

func withSharedSecret(o *testOptions) {
	o.users.SharedSecret = testSharedSecret
	o.account.EnableRegistration = false // shared-secret registration works regardless
}

func (r *rig) nonce() string {
	r.t.Helper()
	got := r.do("GET", "/_synapse/admin/v1/register", "", nil)
	if got.status != 200 || got.str("nonce") == "" {
		r.t.Fatalf("GET nonce: %d %v", got.status, got.body)
	}
	return got.str("nonce")
}

// Synapse admin API, "Shared-Secret Registration".
func TestSharedSecretRegistration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		nonce := r.nonce()
		body := map[string]any{"nonce": nonce, "username": "pepper_roni", "password": "pizza", "admin": true,
			"displayname": "Pepper Roni", "mac": synapseMAC(testSharedSecret, nonce, "pepper_roni", "pizza", true, "")}
		got := r.do("POST", "/_synapse/admin/v1/register", "", body)
		if got.status != 200 || got.str("user_id") != "@pepper_roni:example.org" || got.str("access_token") == "" ||
			got.str("device_id") == "" || got.str("home_server") != "example.org" {
			t.Fatalf("register: %d %v", got.status, got.body)
		}
		if r.whoami(got.str("access_token")).status != 200 {
			t.Error("token does not work")
		}
		u, _ := r.store.GetUser(context.Background(), "@pepper_roni:example.org")
		if u == nil || !u.IsAdmin || u.DisplayName != "Pepper Roni" {
			t.Errorf("user = %+v", u)
		}

		// A nonce is single-use.
		r.expect(r.do("POST", "/_synapse/admin/v1/register", "", body), 400, "M_UNKNOWN")

		// A wrong MAC is refused, and burns the nonce.
		nonce = r.nonce()
		bad := map[string]any{"nonce": nonce, "username": "eve", "password": "pw", "admin": true,
			"mac": synapseMAC(testSharedSecret, nonce, "eve", "pw", false, "")} // signed as notadmin
		r.expect(r.do("POST", "/_synapse/admin/v1/register", "", bad), 403, "M_FORBIDDEN")
		bad["mac"] = synapseMAC(testSharedSecret, nonce, "eve", "pw", true, "")
		r.expect(r.do("POST", "/_synapse/admin/v1/register", "", bad), 400, "M_UNKNOWN")

		// Nonces expire after 60 seconds.
		nonce = r.nonce()
		r.clock.Advance(61 * time.Second)
		late := map[string]any{"nonce": nonce, "username": "late", "password": "pw",
			"mac": synapseMAC(testSharedSecret, nonce, "late", "pw", false, "")}
		r.expect(r.do("POST", "/_synapse/admin/v1/register", "", late), 400, "M_UNKNOWN")

		// user_type is covered by the MAC; admin defaults to false.
		nonce = r.nonce()
		got = r.do("POST", "/_synapse/admin/v1/register", "", map[string]any{"nonce": nonce, "username": "Bot1", "password": "pw",
			"user_type": "bot", "mac": synapseMAC(testSharedSecret, nonce, "Bot1", "pw", false, "bot")})
		if got.status != 200 || got.str("user_id") != "@bot1:example.org" {
			t.Fatalf("bot: %d %v", got.status, got.body)
		}
		u, _ = r.store.GetUser(context.Background(), "@bot1:example.org")
		if u.IsAdmin || u.UserType != "bot" {
			t.Errorf("bot user = %+v", u)
		}

		for name, tt := range map[string]struct {
			body    map[string]any
			status  int
			errcode string
		}{
			"taken":            {map[string]any{"username": "pepper_roni", "password": "pw"}, 400, "M_USER_IN_USE"},
			"invalid username": {map[string]any{"username": "no spaces", "password": "pw"}, 400, "M_INVALID_USERNAME"},
			"no password":      {map[string]any{"username": "nopw"}, 400, "M_MISSING_PARAM"},
			"bad user_type":    {map[string]any{"username": "x", "password": "pw", "user_type": "overlord"}, 400, "M_INVALID_PARAM"},
		} {
			nonce := r.nonce()
			tt.body["nonce"] = nonce
			user, _ := tt.body["username"].(string)
			pw, _ := tt.body["password"].(string)
			ut, _ := tt.body["user_type"].(string)
			tt.body["mac"] = synapseMAC(testSharedSecret, nonce, user, pw, false, ut)
			got := r.do("POST", "/_synapse/admin/v1/register", "", tt.body)
			if got.status != tt.status || got.errcode() != tt.errcode {
				t.Errorf("%s: %d %v, want %d %s", name, got.status, got.body, tt.status, tt.errcode)
			}
		}
	}, withSharedSecret)
}

func TestSharedSecretRegistration_Disabled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		got := r.do("GET", "/_synapse/admin/v1/register", "", nil)
		r.expect(got, 400, "M_UNKNOWN")
		if got.str("error") != "Shared secret registration is not enabled" {
			t.Errorf("error = %q", got.str("error"))
		}
		r.expect(r.do("POST", "/_synapse/admin/v1/register", "", map[string]any{"nonce": "x"}), 400, "M_UNKNOWN")
	})
}
