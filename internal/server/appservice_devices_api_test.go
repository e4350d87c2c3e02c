package server_test

import (
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// device_management.yaml (spec v1.17, MSC4190): an application service
// creates devices of its users with PUT /devices/{deviceId} (201 when
// created, 200 when it existed) and deletes them without user-interactive
// auth; for anyone else an unknown device is still 404 and deletion needs
// UIA.
func TestAppservice_ManagesDevicesOfItsUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := startWithAppservice(t, db, "null", "")
		as := asClient(s, bridgeASToken)
		registerPuppet(t, as, "_irc_alice")
		const alice = "?user_id=@_irc_alice:localhost"

		status, raw := as.Do("PUT", "/_matrix/client/v3/devices/BRIDGEDEV"+alice, map[string]any{"display_name": "IRC bridge"}, nil)
		if status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, raw)
		}
		if status, raw := as.Do("PUT", "/_matrix/client/v3/devices/BRIDGEDEV"+alice, map[string]any{"display_name": "renamed"}, nil); status != http.StatusOK {
			t.Fatalf("again: %d %s", status, raw)
		}
		var dev map[string]any
		as.MustDo("GET", "/_matrix/client/v3/devices/BRIDGEDEV"+alice, nil, &dev)
		if dev["display_name"] != "renamed" {
			t.Errorf("device %v", dev)
		}
		// The device can be asserted now.
		if status, out, raw := whoami(as, alice+"&device_id=BRIDGEDEV"); status != 200 || out["device_id"] != "BRIDGEDEV" {
			t.Errorf("whoami as the new device: %d %s", status, raw)
		}

		if status, raw := as.Do("PUT", "/_matrix/client/v3/devices/OTHER"+alice, map[string]any{}, nil); status != http.StatusCreated {
			t.Fatalf("create OTHER: %d %s", status, raw)
		}
		as.MustDo("DELETE", "/_matrix/client/v3/devices/BRIDGEDEV"+alice, map[string]any{}, nil)
		as.MustDo("POST", "/_matrix/client/v3/delete_devices"+alice, map[string]any{"devices": []string{"OTHER"}}, nil)
		var list struct {
			Devices []map[string]any `json:"devices"`
		}
		as.MustDo("GET", "/_matrix/client/v3/devices"+alice, nil, &list)
		if len(list.Devices) != 0 {
			t.Errorf("devices after deletion: %v", list.Devices)
		}

		// A user's own token creates nothing and deletes only with UIA.
		bob := s.Register("bob")
		status, raw = bob.Do("PUT", "/_matrix/client/v3/devices/NEWDEV", map[string]any{}, nil)
		if status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("user creating a device: %d %s", status, raw)
		}
		if status, raw := bob.Do("DELETE", "/_matrix/client/v3/devices/"+bob.DeviceID, map[string]any{}, nil); status != http.StatusUnauthorized {
			t.Errorf("user deleting without UIA: %d %s", status, raw)
		}
	})
}
