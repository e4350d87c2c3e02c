package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
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

// deactivate-user deletes what the admin API's deactivation deletes of the
// end-to-end domain and around it, through the same code: the devices'
// keys (device, one-time, fallback), their to-device queues, a dehydrated
// device, their pushers and the account's key backups.
func TestDeactivateUserCommand_DeletesEndToEndData(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		cfg := filepath.Join(dir, "homeserver.yaml")
		bob := s.Register("bob")

		var backup struct {
			Version string `json:"version"`
		}
		bob.MustDo("POST", "/_matrix/client/v3/room_keys/version", map[string]any{"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
			"auth_data": map[string]any{"public_key": "pk"}}, &backup)
		bob.MustDo("POST", "/_matrix/client/v3/pushers/set", map[string]any{"kind": "http", "app_id": "org.example.app", "pushkey": "k",
			"app_display_name": "App", "device_display_name": "Phone", "lang": "en",
			"data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify"}}, nil)
		// Keys, a queued message and a dehydrated device, written as the
		// server's e2ee service writes them.
		e2ee, err := e2eestore.New(ctx, s.DB)
		if err != nil {
			t.Fatal(err)
		}
		key := func(id string) []e2eestore.OneTimeKey {
			return []e2eestore.OneTimeKey{{Algorithm: "signed_curve25519", KeyID: id, JSON: json.RawMessage(`{"key":"k"}`)}}
		}
		for _, d := range []string{bob.DeviceID, "DEHYDRATED"} {
			if d == "DEHYDRATED" {
				acct, err := accounts.New(ctx, s.DB)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := acct.CreateDevice(ctx, bob.UserID, d, "Dehydrated device", 1); err != nil {
					t.Fatal(err)
				}
				if err := s.DB.WithTx(ctx, func(tx *sql.Tx) error {
					return e2ee.SetDehydratedDeviceTx(ctx, tx, bob.UserID, e2eestore.DehydratedDevice{DeviceID: d, Data: json.RawMessage(`{"algorithm":"a"}`)})
				}); err != nil {
					t.Fatal(err)
				}
			}
			up := e2eestore.Upload{DeviceKeys: json.RawMessage(`{"device_id":"` + d + `"}`), OneTimeKeys: key("A"), FallbackKeys: key("F"), MaxOneTimeKeys: 10}
			if _, err := e2ee.Upload(ctx, bob.UserID, d, up); err != nil {
				t.Fatal(err)
			}
			msg := e2eestore.ToDeviceMessage{Pos: 1000, UserID: bob.UserID, DeviceID: d, Sender: "@alice:localhost", Type: "m.test", Content: json.RawMessage(`{}`)}
			if d == "DEHYDRATED" {
				msg.Pos++
			}
			if _, _, err := e2ee.EnqueueToDevice(ctx, nil, []e2eestore.ToDeviceMessage{msg}, 10, 1); err != nil {
				t.Fatal(err)
			}
		}

		if code, _, errs := runCLI(t, "", "deactivate-user", "-c", cfg, "bob"); code != 0 {
			t.Fatalf("deactivate-user: %d %s", code, errs)
		}

		if keys, err := e2ee.UserDeviceKeys(ctx, bob.UserID); err != nil || len(keys) != 0 {
			t.Errorf("device keys after deactivate-user: %v %v", keys, err)
		}
		for _, d := range []string{bob.DeviceID, "DEHYDRATED"} {
			if counts, fb, err := e2ee.KeyCounts(ctx, bob.UserID, d); err != nil || len(counts) != 0 || len(fb) != 0 {
				t.Errorf("%s: one-time keys %v, fallback keys %v: %v", d, counts, fb, err)
			}
			if msgs, err := e2ee.ToDeviceMessages(ctx, bob.UserID, d, 0, 1<<62, 10); err != nil || len(msgs) != 0 {
				t.Errorf("%s: to-device queue: %v %v", d, msgs, err)
			}
		}
		if _, ok, err := e2ee.DehydratedDevice(ctx, bob.UserID); ok || err != nil {
			t.Errorf("dehydrated device: %v %v", ok, err)
		}
		backups, err := keybackupstore.New(ctx, s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := backups.GetVersion(ctx, bob.UserID, backup.Version); !errors.Is(err, keybackupstore.ErrNoVersion) {
			t.Errorf("key backup: %v", err)
		}
		pushers, err := pushstore.New(ctx, s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := pushers.Pushers(ctx, bob.UserID); err != nil || len(p) != 0 {
			t.Errorf("pushers: %v %v", p, err)
		}
	})
}
