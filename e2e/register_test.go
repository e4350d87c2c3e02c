package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// An operator creates an account with "myelin register-user" (Synapse's
// shared-secret registration, /_synapse/admin/v1/register) against the
// running server; the user then logs in with m.login.password and an
// m.id.user identifier (client-server-api, "Password-based") and the
// token works.
func TestRegisterUser_CreatedUserCanLogInWithPassword(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, options{})
		const password = "correct horse battery staple"

		out := s.registerUser("alice", password)
		if !strings.Contains(out, "@alice:localhost") {
			t.Errorf("register-user output does not name @alice:localhost:\n%s", out)
		}

		alice := s.login(t, "alice", password)
		if alice.userID != "@alice:localhost" {
			t.Errorf("login user_id = %q, want @alice:localhost", alice.userID)
		}
		var who struct {
			UserID   string `json:"user_id"`
			DeviceID string `json:"device_id"`
		}
		alice.must(t, "GET", "/_matrix/client/v3/account/whoami", nil, &who)
		if who.UserID != "@alice:localhost" || who.DeviceID != alice.deviceID {
			t.Errorf("whoami = %+v, want @alice:localhost on device %s", who, alice.deviceID)
		}

		// A wrong password is refused with 403 M_FORBIDDEN
		// (client-server-api, POST /login).
		x, err := s.anonymous().do(t.Context(), "POST", "/_matrix/client/v3/login", loginBody("alice", "not the password"))
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden || x.Errcode() != "M_FORBIDDEN" {
			t.Errorf("login with a wrong password:\n%s\nwant 403 M_FORBIDDEN", x)
		}

		// Registering the same name again fails and leaves the first
		// account's password working.
		if out, err := s.runRegisterUser("alice", "another password entirely"); err == nil {
			t.Errorf("register-user for an existing user succeeded:\n%s", out)
		}
		s.login(t, "alice", password)
	})
}
