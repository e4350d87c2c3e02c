package clientapi

import (
	"testing"
)

// Spec: device_management.yaml.
func TestDevices_ListGetRename(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", map[string]any{"device_id": "ONE", "initial_device_display_name": "Phone"}).str("access_token")
		r.mustLogin("alice", "secret", map[string]any{"device_id": "TWO"})

		got := r.do("GET", "/_matrix/client/v3/devices", token, nil)
		devices, _ := got.body["devices"].([]any)
		if got.status != 200 || len(devices) != 2 {
			t.Fatalf("GET /devices: %d %v", got.status, got.body)
		}
		one := devices[0].(map[string]any)
		if one["device_id"] != "ONE" || one["display_name"] != "Phone" || one["last_seen_ts"] == nil || one["last_seen_ip"] != "127.0.0.1" {
			t.Errorf("device ONE = %v", one)
		}

		r.expect(r.do("GET", "/_matrix/client/v3/devices/NOPE", token, nil), 404, "M_NOT_FOUND")
		if got := r.do("PUT", "/_matrix/client/v3/devices/TWO", token, map[string]any{"display_name": "Tablet"}); got.status != 200 {
			t.Fatalf("rename: %d %v", got.status, got.body)
		}
		if got := r.do("GET", "/_matrix/client/v3/devices/TWO", token, nil); got.str("display_name") != "Tablet" {
			t.Errorf("after rename: %v", got.body)
		}
		if !r.hooks.has("device updated @alice:example.org TWO") {
			t.Error("device hook not called on rename")
		}
		if got := r.do("PUT", "/_matrix/client/v3/devices/TWO", token, map[string]any{}); got.status != 200 {
			t.Errorf("empty update: %d", got.status)
		}
		r.expect(r.do("PUT", "/_matrix/client/v3/devices/NOPE", token, map[string]any{"display_name": "x"}), 404, "M_NOT_FOUND")
		r.expect(r.do("PUT", "/_matrix/client/v3/devices/TWO", token, map[string]any{"display_name": 7}), 400, "M_BAD_JSON")

		// Another user's devices are invisible.
		bob := r.register("bob", "pw", nil).str("access_token")
		r.expect(r.do("GET", "/_matrix/client/v3/devices/ONE", bob, nil), 404, "M_NOT_FOUND")
	})
}

// Spec: device_management.yaml — DELETE uses UIA and invalidates the
// device's access tokens.
func TestDevices_DeleteNeedsPasswordAndLogsOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", map[string]any{"device_id": "ONE"}).str("access_token")
		two := r.mustLogin("alice", "secret", map[string]any{"device_id": "TWO"})

		first := r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, nil)
		if first.status != 401 || jsonString(first.body["flows"]) != "stages=m.login.password,;," {
			t.Fatalf("first round: %d %v", first.status, first.body)
		}
		session := first.str("session")

		wrong := r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, map[string]any{"auth": passwordAuth("alice", "nope", session)})
		if wrong.status != 401 || wrong.errcode() != "M_FORBIDDEN" || wrong.str("session") != session {
			t.Fatalf("wrong password: %d %v", wrong.status, wrong.body)
		}
		// The password must be the caller's own: another user's credentials
		// are 403, not a stage to retry (issue 17; Synapse answers
		// "Invalid auth" with 403, and sytest's "DELETE /device/{deviceId}
		// requires UI auth user to match device owner" expects it).
		r.register("mallory", "mpw", nil)
		r.expect(r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, map[string]any{"auth": passwordAuth("mallory", "mpw", session)}), 403, "M_FORBIDDEN")
		r.expect(r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, map[string]any{"auth": map[string]any{
			"type": "m.login.password", "user": "@mallory:example.org", "password": "mpw", "session": session}}), 403, "M_FORBIDDEN")
		if r.do("GET", "/_matrix/client/v3/devices/TWO", token, nil).status != 200 {
			t.Fatal("the device was deleted with someone else's credentials")
		}
		// A session belongs to one operation.
		r.expect(r.do("DELETE", "/_matrix/client/v3/devices/ONE", token, map[string]any{"auth": passwordAuth("alice", "secret", session)}), 403, "M_FORBIDDEN")

		ok := r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, map[string]any{"auth": passwordAuth("alice", "secret", session)})
		if ok.status != 200 {
			t.Fatalf("delete: %d %v", ok.status, ok.body)
		}
		r.tokenRevoked(two, false)
		r.expect(r.do("GET", "/_matrix/client/v3/devices/TWO", token, nil), 404, "M_NOT_FOUND")
		if !r.hooks.has("devices deleted @alice:example.org TWO") {
			t.Error("device deletion hook not called")
		}

		// Deleting a device that is already gone succeeds.
		again := r.do("DELETE", "/_matrix/client/v3/devices/TWO", token, map[string]any{"auth": passwordAuth("alice", "secret", "")})
		if again.status != 200 {
			t.Errorf("already deleted: %d %v", again.status, again.body)
		}

		// Another user's device is not among the caller's, so the answer is
		// the spec's 200 ("removed, or had been removed previously"; Synapse
		// answers the same, and a 404 would tell which device IDs others
		// hold), and the device survives.
		bob := r.register("bob", "bpw", map[string]any{"device_id": "BOBS"}).str("access_token")
		other := r.do("DELETE", "/_matrix/client/v3/devices/BOBS", token, map[string]any{"auth": passwordAuth("alice", "secret", "")})
		if other.status != 200 {
			t.Errorf("another user's device: %d %v", other.status, other.body)
		}
		if got := r.do("GET", "/_matrix/client/v3/devices/BOBS", bob, nil); got.status != 200 {
			t.Errorf("bob's device after alice deleted its ID: %d %v", got.status, got.body)
		}
	})
}

func TestDevices_BulkDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, r *rig) {
		token := r.register("alice", "secret", map[string]any{"device_id": "ONE"}).str("access_token")
		two := r.mustLogin("alice", "secret", map[string]any{"device_id": "TWO"})
		three := r.mustLogin("alice", "secret", map[string]any{"device_id": "THREE"})

		r.expect(r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{}), 400, "M_MISSING_PARAM")
		first := r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{"devices": []string{"TWO", "THREE", "GONE"}})
		if first.status != 401 {
			t.Fatalf("first round: %d %v", first.status, first.body)
		}
		got := r.do("POST", "/_matrix/client/v3/delete_devices", token, map[string]any{
			"devices": []string{"TWO", "THREE", "GONE"}, "auth": passwordAuth("@alice:example.org", "secret", first.str("session"))})
		if got.status != 200 {
			t.Fatalf("delete_devices: %d %v", got.status, got.body)
		}
		r.tokenRevoked(two, false)
		r.tokenRevoked(three, false)
		if r.whoami(token).status != 200 {
			t.Error("the caller's device was not in the list and must survive")
		}
	})
}
