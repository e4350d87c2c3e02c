package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// The admin commands change the database a running server uses, with the
// admin API's rules, and the server sees the changes at once.
func TestAdminCommands_ChangeTheServersAccounts(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		cfg := filepath.Join(dir, "homeserver.yaml")
		alice, bob := s.Register("alice"), s.Register("bob")

		code, out, errs := runCLI(t, "", "list-users", "-c", cfg)
		if code != 0 || !strings.Contains(out, "@alice:localhost") || !strings.Contains(out, "@bob:localhost") {
			t.Fatalf("list-users: exit %d\n%s\n%s", code, out, errs)
		}

		if code, _, errs := runCLI(t, "", "set-admin", "-c", cfg, "alice"); code != 0 {
			t.Fatalf("set-admin: %d %s", code, errs)
		}
		alice.MustDo("GET", "/_synapse/admin/v2/users", nil, nil)
		code, out, _ = runCLI(t, "", "list-users", "-c", cfg, "--admins")
		if code != 0 || !strings.Contains(out, "@alice:localhost") || strings.Contains(out, "@bob:localhost") {
			t.Errorf("list-users --admins:\n%s", out)
		}

		// A password from the prompt; the user's sessions end.
		if code, _, errs := runCLI(t, "new secret\nnew secret\n", "reset-password", "-c", cfg, "@bob:localhost"); code != 0 {
			t.Fatalf("reset-password: %d %s", code, errs)
		}
		if status, _ := bob.Do("GET", "/_matrix/client/v3/account/whoami", nil, nil); status != http.StatusUnauthorized {
			t.Errorf("bob's token after reset-password: %d", status)
		}
		login := func(password string) int {
			status, _ := s.Anonymous().Do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
				"password": password, "identifier": map[string]any{"type": "m.id.user", "user": "bob"}}, nil)
			return status
		}
		if status := login("new secret"); status != http.StatusOK {
			t.Errorf("login with the new password: %d", status)
		}

		if code, _, errs := runCLI(t, "", "deactivate-user", "-c", cfg, "bob"); code != 0 {
			t.Fatalf("deactivate-user: %d %s", code, errs)
		}
		if status := login("new secret"); status != http.StatusForbidden {
			t.Errorf("login after deactivate-user: %d", status)
		}
		code, _, errs = runCLI(t, "", "deactivate-user", "-c", cfg, "@nobody:localhost")
		if code != 1 || !strings.Contains(errs, "User not found") {
			t.Errorf("deactivating an unknown user: %d %s", code, errs)
		}
		code, _, errs = runCLI(t, "", "set-admin", "-c", cfg, "@x:elsewhere.org")
		if code != 1 {
			t.Errorf("set-admin of a remote user: %d %s", code, errs)
		}

		code, out, errs = runCLI(t, "", "new-registration-token", "-c", cfg, "--token", "invite1", "--uses", "2")
		if code != 0 || !strings.HasPrefix(out, "invite1\n") || !strings.Contains(out, "2 use(s)") {
			t.Fatalf("new-registration-token: %d\n%s\n%s", code, out, errs)
		}
		var tok struct {
			UsesAllowed int `json:"uses_allowed"`
		}
		alice.MustDo("GET", "/_synapse/admin/v1/registration_tokens/invite1", nil, &tok)
		if tok.UsesAllowed != 2 {
			t.Errorf("token as the server sees it: %+v", tok)
		}
		code, _, errs = runCLI(t, "", "new-registration-token", "-c", cfg, "--token", "bad token")
		if code != 1 || !strings.Contains(errs, "token must not be empty") {
			t.Errorf("bad token: %d %s", code, errs)
		}
		if code, _, _ := runCLI(t, "", "list-users"); code != 1 {
			t.Errorf("list-users without -c: exit %d", code)
		}
	})
}
