package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// synadmBound caps one synadm command.
const synadmBound = time.Minute

// An operator's admin tool that no one here wrote, synadm (Debian's
// package, the Synapse admin CLI), manages Myelin through the Synapse admin
// API as it would manage Synapse (issue 15, "How it is checked"): it finds
// the server name through the server's key endpoint, lists users and
// rooms, shows a user and a room, mints a registration token, and
// deactivates a user, who can then no longer log in.
func TestSynadm_ListsUsersAndRoomsAndDeactivatesAUser(t *testing.T) {
	t.Parallel()
	synadm := synadmBinary(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, options{})
		admin := s.newAdmin(t, "operator")
		bob := s.newUser(t, "bob")
		roomID := bob.createRoom(t, "bob's room")

		// synadm finds the server name itself when base_url names localhost
		// (it asks /_matrix/key/v2/server), so no homeserver is configured.
		cfg := filepath.Join(t.TempDir(), "synadm.yaml")
		port := s.url[strings.LastIndex(s.url, ":")+1:]
		yaml := fmt.Sprintf("user: %q\ntoken: %q\nbase_url: \"http://localhost:%s\"\nadmin_path: /_synapse/admin\nmatrix_path: /_matrix\ntimeout: 30\nserver_discovery: well-known\nhomeserver: auto-retrieval\nformat: json\n",
			admin.userID, admin.token, port)
		if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		run := func(args ...string) string {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), synadmBound)
			defer cancel()
			cmd := exec.CommandContext(ctx, synadm, append([]string{"-c", cfg, "--batch", "-o", "json"}, args...)...)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("synadm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		// decode reads the last JSON document synadm printed (some commands
		// print notes first).
		decode := func(out string, v any) {
			t.Helper()
			i := strings.LastIndex(out, "\n{")
			if i < 0 {
				i = 0
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(out[i:])), v); err != nil {
				t.Fatalf("synadm printed no JSON object at the end (%v):\n%s", err, out)
			}
		}

		var version struct {
			ServerVersion string `json:"server_version"`
		}
		decode(run("version"), &version)
		if version.ServerVersion == "" {
			t.Errorf("synadm version: no server_version")
		}

		var users struct {
			Users []struct {
				Name        string `json:"name"`
				Admin       bool   `json:"admin"`
				Deactivated bool   `json:"deactivated"`
			} `json:"users"`
			Total int `json:"total"`
		}
		decode(run("user", "list"), &users)
		names := map[string]bool{}
		for _, u := range users.Users {
			names[u.Name] = true
		}
		if !names[admin.userID] || !names[bob.userID] || users.Total != 2 {
			t.Errorf("synadm user list = %+v, want %s and %s, total 2", users, admin.userID, bob.userID)
		}

		// A localpart is completed with the server name synadm looked up.
		var details struct {
			Name        string `json:"name"`
			Deactivated bool   `json:"deactivated"`
		}
		decode(run("user", "details", "bob"), &details)
		if details.Name != bob.userID || details.Deactivated {
			t.Errorf("synadm user details bob = %+v, want %s, active", details, bob.userID)
		}

		var rooms struct {
			Rooms []struct {
				RoomID string `json:"room_id"`
				Name   string `json:"name"`
			} `json:"rooms"`
		}
		decode(run("room", "list"), &rooms)
		if len(rooms.Rooms) != 1 || rooms.Rooms[0].RoomID != roomID || rooms.Rooms[0].Name != "bob's room" {
			t.Errorf("synadm room list = %+v, want only %s named \"bob's room\"", rooms, roomID)
		}
		var members struct {
			Members []string `json:"members"`
		}
		decode(run("room", "members", roomID), &members)
		if len(members.Members) != 1 || members.Members[0] != bob.userID {
			t.Errorf("synadm room members = %+v, want [%s]", members, bob.userID)
		}

		var tok struct {
			Token       string `json:"token"`
			UsesAllowed *int   `json:"uses_allowed"`
		}
		decode(run("regtok", "new", "--uses-allowed", "1"), &tok)
		if tok.Token == "" || tok.UsesAllowed == nil || *tok.UsesAllowed != 1 {
			t.Errorf("synadm regtok new = %+v, want a token with one use", tok)
		}

		run("user", "deactivate", bob.userID)
		decode(run("user", "details", bob.userID), &details)
		if !details.Deactivated {
			t.Errorf("after synadm user deactivate, details = %+v, want deactivated", details)
		}
		x, err := s.anonymous().do(t.Context(), "POST", "/_matrix/client/v3/login", loginBody("bob", password))
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != http.StatusForbidden {
			t.Errorf("login of a user synadm deactivated:\n%s\nwant 403", x)
		}
	})
}

// newAdmin creates localpart as a server admin with register-user and logs
// it in.
func (s *server) newAdmin(t testing.TB, localpart string) *client {
	t.Helper()
	cmd := exec.Command(s.bin, "register-user", "-c", s.configPath, "-u", localpart, "-p", password, "--admin", s.url)
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("myelin register-user --admin -u %s: %v\n%s", localpart, err, out)
	}
	return s.login(t, localpart, password)
}

// synadmBinary finds Debian's synadm, or skips loudly (fails under
// CI=true, where .ci/run installs it).
func synadmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("synadm"); err == nil {
		return p
	}
	msg := "synadm is not installed, so the admin-tool test DID NOT RUN. Install it with: apt-get install -y synadm"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
