package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// twoProcesses starts two servers from one configuration: two processes
// of one homeserver on one database.
func twoProcesses(t *testing.T, db *sqldb.DB, extraYAML string) (*servertest.Server, *servertest.Server) {
	t.Helper()
	path := servertest.WriteConfig(t, t.TempDir(), db, servertest.Options{ExtraYAML: extraYAML})
	return servertest.StartConfig(t, path), servertest.StartConfig(t, path)
}

// A user-interactive authentication session is stored: a flow opened on
// one process goes on on another, still bound to the one request it was
// opened for.
func TestUIA_SessionContinuesOnAnotherProcess(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		a, b := twoProcesses(t, db, "")
		alice := a.Register("alice")
		var devices []string
		for range 2 {
			var login struct {
				DeviceID string `json:"device_id"`
			}
			_, raw := passwordLogin(a, "alice", testPassword)
			if err := json.Unmarshal(raw, &login); err != nil || login.DeviceID == "" {
				t.Fatalf("login: %s", raw)
			}
			devices = append(devices, login.DeviceID)
		}

		deleteOne := map[string]any{"devices": []string{devices[0]}}
		status, raw := alice.Do("POST", "/_matrix/client/v3/delete_devices", deleteOne, nil)
		var uia uiaReply
		if err := json.Unmarshal(raw, &uia); status != http.StatusUnauthorized || err != nil || uia.Session == "" {
			t.Fatalf("opening the flow on the first process: %d %s", status, raw)
		}
		auth := map[string]any{"type": "m.login.password", "session": uia.Session, "password": testPassword,
			"identifier": map[string]any{"type": "m.id.user", "user": alice.UserID}}

		onB := b.As(alice)
		deleteOther := map[string]any{"devices": []string{devices[1]}, "auth": auth}
		status, raw = onB.Do("POST", "/_matrix/client/v3/delete_devices", deleteOther, nil)
		expectStatus(t, "the session used for another body on the second process", status, raw, http.StatusForbidden, "M_FORBIDDEN")

		deleteOne["auth"] = auth
		onB.MustDo("POST", "/_matrix/client/v3/delete_devices", deleteOne, nil)
		var list struct {
			Devices []struct {
				DeviceID string `json:"device_id"`
			} `json:"devices"`
		}
		alice.MustDo("GET", "/_matrix/client/v3/devices", nil, &list)
		for _, d := range list.Devices {
			if d.DeviceID == devices[0] {
				t.Errorf("device %s survived its deletion", d.DeviceID)
			}
		}

		status, raw = alice.Do("POST", "/_matrix/client/v3/delete_devices", deleteOther, nil)
		expectStatus(t, "the session used for another body back on the first process", status, raw, http.StatusForbidden, "M_FORBIDDEN")
	})
}

// A registration token's pending use is held by a stored session, so a
// second process cannot hand out a use the first has promised.
func TestUIA_RegistrationTokenPendingUseIsSeenByEveryProcess(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		a, b := twoProcesses(t, db, "registration_requires_token: true\n")
		storeToken(t, a, accounts.RegistrationToken{Token: "once", UsesAllowed: new(int64(1))})

		bob := map[string]any{"username": "bob", "password": testPassword}
		_, r := registerStep(t, a, bob)
		bob["auth"] = map[string]any{"type": "m.login.registration_token", "token": "once", "session": r.Session}
		if status, r2 := registerStep(t, a, bob); status != http.StatusUnauthorized || len(r2.Completed) != 1 {
			t.Fatalf("token stage on the first process: %d %+v", status, r2)
		}

		carol := map[string]any{"username": "carol", "password": testPassword}
		_, rc := registerStep(t, b, carol)
		carol["auth"] = map[string]any{"type": "m.login.registration_token", "token": "once", "session": rc.Session}
		if status, r2 := registerStep(t, b, carol); status != http.StatusUnauthorized || r2.Errcode != "M_UNAUTHORIZED" ||
			len(r2.Completed) != 0 {
			t.Errorf("the token's only use, pending on the first process, taken on the second: %d %+v", status, r2)
		}
		if _, valid := validity(b.Anonymous(), "once"); valid {
			t.Error("the second process calls a token valid whose only use is pending")
		}

		bob["auth"] = map[string]any{"type": "m.login.dummy", "session": r.Session}
		if status, done := registerStep(t, b, bob); status != http.StatusOK || done.UserID != "@bob:localhost" {
			t.Fatalf("finishing on the second process the flow opened on the first: %d %+v", status, done)
		}
	})
}
