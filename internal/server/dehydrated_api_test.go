package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Dehydrated devices, MSC3814 (unstable prefix org.matrix.msc3814.v1), as
// matrix-js-sdk's Rust crypto and Synapse use them.

const dehydratedPath = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// newDehydratedDevice is a device key of c's user for the dehydrated
// device deviceID (not c's own device).
func newDehydratedDevice(t *testing.T, c *servertest.Client, deviceID string) *testDevice {
	return newTestDevice(t, &servertest.Client{UserID: c.UserID, DeviceID: deviceID})
}

// dehydrateBody is a PUT dehydrated_device body for dev with one one-time
// key and a fallback key; its device keys say dehydrated, as the Rust
// crypto's do.
func dehydrateBody(t *testing.T, dev *testDevice, pickle string) m {
	keys := dev.deviceKeys(t)
	keys["dehydrated"] = true
	return m{
		"device_id":                   dev.c.DeviceID,
		"device_data":                 m{"algorithm": "org.matrix.msc3814.v1.olm", "device_pickle": pickle},
		"initial_device_display_name": "Dehydrated device",
		"device_keys":                 dev.sign(t, keys),
		"one_time_keys":               m{"signed_curve25519:AAAAAQ": dev.signedKey(t, "otk-"+dev.c.DeviceID, false)},
		"fallback_keys":               m{"signed_curve25519:AAAAAg": dev.signedKey(t, "fb-"+dev.c.DeviceID, true)},
	}
}

func mustDehydrate(t *testing.T, c *servertest.Client, body m) {
	t.Helper()
	var resp struct {
		DeviceID string `json:"device_id"`
	}
	c.MustDo("PUT", dehydratedPath, body, &resp)
	if resp.DeviceID != body["device_id"] {
		t.Fatalf("PUT dehydrated_device answered device_id %q, want %q", resp.DeviceID, body["device_id"])
	}
}

type dehydratedEvents struct {
	Events []struct {
		Sender  string         `json:"sender"`
		Type    string         `json:"type"`
		Content map[string]any `json:"content"`
	} `json:"events"`
	NextBatch string `json:"next_batch"`
}

func (e dehydratedEvents) seqs() []int {
	var out []int
	for _, ev := range e.Events {
		n, _ := ev.Content["seq"].(float64)
		out = append(out, int(n))
	}
	return out
}

func dehydratedEventsPage(c *servertest.Client, deviceID, nextBatch, limit string) (int, []byte, dehydratedEvents) {
	var resp dehydratedEvents
	path := dehydratedPath + "/" + url.PathEscape(deviceID) + "/events"
	if limit != "" {
		path += "?limit=" + limit
	}
	body := m{}
	if nextBatch != "" {
		body["next_batch"] = nextBatch
	}
	status, raw := c.Do("POST", path, body, &resp)
	return status, raw, resp
}

func deviceIDs(t *testing.T, c *servertest.Client) []string {
	t.Helper()
	var resp struct {
		Devices []struct {
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	c.MustDo("GET", "/_matrix/client/v3/devices", nil, &resp)
	var out []string
	for _, d := range resp.Devices {
		out = append(out, d.DeviceID)
	}
	return out
}

// MSC3814 "Dehydrating a device" and "Rehydrating a device": the device,
// its data and its keys go up in one request; GET gives back the device ID
// and data. The device is a real device of the user: GET /devices lists
// it (as Synapse does), other users query its keys (with dehydrated: true
// as uploaded), claim its one-time key and then its fallback key, and
// send it to-device messages, addressed to it or to all of the user's
// devices.
func TestDehydratedDevice_IsARealDeviceOthersEncryptTo(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		dev := newDehydratedDevice(t, alice, "DEHYDRATED1")
		mustDehydrate(t, alice, dehydrateBody(t, dev, "pickle-1"))

		var got struct {
			DeviceID   string         `json:"device_id"`
			DeviceData map[string]any `json:"device_data"`
		}
		alice.MustDo("GET", dehydratedPath, nil, &got)
		if got.DeviceID != "DEHYDRATED1" || got.DeviceData["algorithm"] != "org.matrix.msc3814.v1.olm" || got.DeviceData["device_pickle"] != "pickle-1" {
			t.Fatalf("GET dehydrated_device: %+v", got)
		}
		if ids := deviceIDs(t, alice); !slices.Contains(ids, "DEHYDRATED1") || !slices.Contains(ids, alice.DeviceID) {
			t.Fatalf("GET /devices: %v", ids)
		}

		var q struct {
			DeviceKeys map[string]map[string]map[string]any `json:"device_keys"`
		}
		bob.MustDo("POST", "/_matrix/client/v3/keys/query", m{"device_keys": m{alice.UserID: []string{}}}, &q)
		k := q.DeviceKeys[alice.UserID]["DEHYDRATED1"]
		if k == nil || k["dehydrated"] != true {
			t.Fatalf("keys/query: the dehydrated device's keys are %v", k)
		}
		unsigned, _ := k["unsigned"].(map[string]any)
		if unsigned["device_display_name"] != "Dehydrated device" {
			t.Errorf("display name in keys/query: %v", unsigned)
		}

		for _, want := range []string{"otk-DEHYDRATED1", "fb-DEHYDRATED1"} {
			c := claim(bob, m{alice.UserID: m{"DEHYDRATED1": "signed_curve25519"}})
			var key struct {
				Key string `json:"key"`
			}
			for _, raw := range c.OneTimeKeys[alice.UserID]["DEHYDRATED1"] {
				_ = json.Unmarshal(raw, &key)
			}
			if key.Key != want {
				t.Fatalf("keys/claim gave %q, want %q", key.Key, want)
			}
		}

		mustSendToDevice(t, bob, "t1", map[string]map[string]m{alice.UserID: {"DEHYDRATED1": {"seq": 1}}})
		mustSendToDevice(t, bob, "t2", map[string]map[string]m{alice.UserID: {"*": {"seq": 2}}})
		status, raw, page := dehydratedEventsPage(alice, "DEHYDRATED1", "", "")
		if status != http.StatusOK || fmt.Sprint(page.seqs()) != "[1 2]" || page.Events[0].Sender != bob.UserID || page.Events[0].Type != "m.test" {
			t.Fatalf("events: %d %s", status, raw)
		}
	})
}

// MSC3814: the events come in pages of at most limit, each with a
// next_batch; the last page is empty and still has one. Unlike /sync,
// pages delete nothing ("the server should not delete any to-device
// messages delivered in previous batches"), so a rehydration cut short
// starts again from the beginning and gets everything. A bad token is 400
// M_INVALID_PARAM (Synapse's check).
func TestDehydratedDevice_EventsArePagedAndKept(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "DD"), "p"))
		for i := 1; i <= 5; i++ {
			mustSendToDevice(t, bob, fmt.Sprint("t", i), map[string]map[string]m{alice.UserID: {"DD": {"seq": i}}})
		}
		var all []int
		next := ""
		for pages := 0; ; pages++ {
			status, raw, page := dehydratedEventsPage(alice, "DD", next, "2")
			if status != http.StatusOK || page.NextBatch == "" {
				t.Fatalf("page %d: %d %s", pages, status, raw)
			}
			if len(page.Events) > 2 {
				t.Fatalf("page %d has %d events, limit 2", pages, len(page.Events))
			}
			if len(page.Events) == 0 {
				if pages != 3 {
					t.Fatalf("the empty last page came after %d pages, want 3", pages)
				}
				break
			}
			all = append(all, page.seqs()...)
			next = page.NextBatch
		}
		if fmt.Sprint(all) != "[1 2 3 4 5]" {
			t.Fatalf("events over all pages: %v", all)
		}
		// Nothing was deleted: a new rehydration gets them all again.
		if _, raw, page := dehydratedEventsPage(alice, "DD", "", ""); fmt.Sprint(page.seqs()) != "[1 2 3 4 5]" {
			t.Fatalf("second rehydration: %s", raw)
		}
		// A message sent after the last page comes after its token.
		mustSendToDevice(t, bob, "t6", map[string]map[string]m{alice.UserID: {"DD": {"seq": 6}}})
		if _, raw, page := dehydratedEventsPage(alice, "DD", next, ""); fmt.Sprint(page.seqs()) != "[6]" {
			t.Fatalf("after the last token: %s", raw)
		}
		for _, bad := range []string{"s12", "d", "d-1", "dx"} {
			if status, raw, _ := dehydratedEventsPage(alice, "DD", bad, ""); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
				t.Errorf("next_batch %q: %d %s", bad, status, raw)
			}
		}
		if status, raw, _ := dehydratedEventsPage(alice, "DD", "", "0"); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("limit 0: %d %s", status, raw)
		}
	})
}

// MSC3814: only the user's dehydrated device's events may be fetched:
// another device ID, or none dehydrated, is 403 M_FORBIDDEN; GET and
// DELETE without a dehydrated device are 404 M_NOT_FOUND; all of them need
// an access token.
func TestDehydratedDevice_ForbiddenAndNotFound(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		for _, method := range []string{"GET", "DELETE"} {
			if status, raw := alice.Do(method, dehydratedPath, nil, nil); status != http.StatusNotFound || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("%s without a dehydrated device: %d %s", method, status, raw)
			}
		}
		if status, raw, _ := dehydratedEventsPage(alice, "DD", "", ""); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("events without a dehydrated device: %d %s", status, raw)
		}
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "DD"), "p"))
		for _, c := range []struct {
			who    *servertest.Client
			device string
		}{{alice, alice.DeviceID}, {alice, "OTHER"}, {bob, "DD"}} {
			if status, raw, _ := dehydratedEventsPage(c.who, c.device, "", ""); status != http.StatusForbidden || servertest.Errcode(raw) != "M_FORBIDDEN" {
				t.Errorf("%s fetching %s's events: %d %s", c.who.UserID, c.device, status, raw)
			}
		}
		anon := s.Anonymous()
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			if status, raw := anon.Do(method, dehydratedPath, m{}, nil); status != http.StatusUnauthorized || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
				t.Errorf("%s without a token: %d %s", method, status, raw)
			}
		}
		if status, raw, _ := dehydratedEventsPage(anon, "DD", "", ""); status != http.StatusUnauthorized {
			t.Errorf("events without a token: %d %s", status, raw)
		}
	})
}

// A new dehydrated device replaces the user's previous one, which is
// deleted with its keys and to-device queue (MSC3814: "uploading a new
// dehydrated device will remove any previously-set dehydrated device");
// uploading the same device ID again starts it afresh, as Synapse deletes
// before it stores. DELETE answers the deleted device's ID.
func TestDehydratedDevice_ReplacedAndDeletedWithKeysAndQueue(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "D1"), "p1"))
		mustSendToDevice(t, bob, "t1", map[string]map[string]m{alice.UserID: {"D1": {"seq": 1}}})

		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "D2"), "p2"))
		if ids := deviceIDs(t, alice); slices.Contains(ids, "D1") || !slices.Contains(ids, "D2") {
			t.Fatalf("devices after the replacement: %v", ids)
		}
		if k := query(bob, m{alice.UserID: []string{}}).DeviceKeys[alice.UserID]; k["D1"].DeviceID != "" || k["D2"].DeviceID != "D2" {
			t.Fatalf("keys after the replacement: %v", k)
		}
		if c := claim(bob, m{alice.UserID: m{"D1": "signed_curve25519"}}); len(c.OneTimeKeys[alice.UserID]["D1"]) != 0 {
			t.Fatalf("the replaced device's key was claimed: %v", c.OneTimeKeys)
		}
		if status, raw, _ := dehydratedEventsPage(alice, "D1", "", ""); status != http.StatusForbidden {
			t.Fatalf("events of the replaced device: %d %s", status, raw)
		}
		if _, raw, page := dehydratedEventsPage(alice, "D2", "", ""); len(page.Events) != 0 {
			t.Fatalf("the new device inherited messages: %s", raw)
		}
		e2ee, err := e2eestore.New(context.Background(), s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if msgs, err := e2ee.ToDeviceMessages(context.Background(), alice.UserID, "D1", 0, 1<<62, 10); err != nil || len(msgs) != 0 {
			t.Fatalf("the replaced device's queue: %v %v", msgs, err)
		}

		// The same device again: its queue and claimed keys start afresh.
		mustSendToDevice(t, bob, "t2", map[string]map[string]m{alice.UserID: {"D2": {"seq": 2}}})
		claim(bob, m{alice.UserID: m{"D2": "signed_curve25519"}})
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "D2"), "p3"))
		if _, raw, page := dehydratedEventsPage(alice, "D2", "", ""); len(page.Events) != 0 {
			t.Fatalf("re-uploaded device kept its messages: %s", raw)
		}
		var key struct {
			Key string `json:"key"`
		}
		for _, raw := range claim(bob, m{alice.UserID: m{"D2": "signed_curve25519"}}).OneTimeKeys[alice.UserID]["D2"] {
			_ = json.Unmarshal(raw, &key)
		}
		if key.Key != "otk-D2" {
			t.Fatalf("re-uploaded device's one-time key: %q", key.Key)
		}

		var del struct {
			DeviceID string `json:"device_id"`
		}
		alice.MustDo("DELETE", dehydratedPath, nil, &del)
		if del.DeviceID != "D2" {
			t.Fatalf("DELETE answered %q", del.DeviceID)
		}
		if ids := deviceIDs(t, alice); slices.Contains(ids, "D2") {
			t.Fatalf("devices after DELETE: %v", ids)
		}
		if status, _ := alice.Do("GET", dehydratedPath, nil, nil); status != http.StatusNotFound {
			t.Fatalf("GET after DELETE: %d", status)
		}
	})
}

// What PUT refuses, before it creates anything: no device keys (Synapse's
// check), device keys of another device or with a bad signature, no
// device_id or device_data, and a device ID that is one of the user's
// logged-in devices.
func TestDehydratedDevice_PutRefusesBadUploads(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		dev := newDehydratedDevice(t, alice, "DD")
		cases := []struct {
			name, code string
			edit       func(b m)
		}{
			{"no device_keys", "M_MISSING_PARAM", func(b m) { delete(b, "device_keys") }},
			{"no device_id", "M_MISSING_PARAM", func(b m) { delete(b, "device_id") }},
			{"no device_data", "M_MISSING_PARAM", func(b m) { delete(b, "device_data") }},
			{"device_data without algorithm", "M_MISSING_PARAM", func(b m) { b["device_data"] = m{"device_pickle": "x"} }},
			{"device_data not an object", "M_BAD_JSON", func(b m) { b["device_data"] = []string{"x"} }},
			{"keys of another device", "M_INVALID_PARAM", func(b m) { b["device_id"] = "OTHER" }},
			{"bad signature", "M_INVALID_SIGNATURE", func(b m) { b["device_keys"].(m)["algorithms"] = []string{"changed"} }},
			{"a logged-in device's ID", "M_INVALID_PARAM", func(b m) {
				own := newDehydratedDevice(t, alice, alice.DeviceID)
				b["device_id"], b["device_keys"] = alice.DeviceID, own.deviceKeys(t)
			}},
		}
		for _, c := range cases {
			b := dehydrateBody(t, dev, "p")
			c.edit(b)
			if status, raw := alice.Do("PUT", dehydratedPath, b, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != c.code {
				t.Errorf("%s: %d %s, want 400 %s", c.name, status, raw, c.code)
			}
		}
		if ids := deviceIDs(t, alice); len(ids) != 1 {
			t.Fatalf("refused uploads left devices: %v", ids)
		}
		if status, _ := alice.Do("GET", dehydratedPath, nil, nil); status != http.StatusNotFound {
			t.Fatalf("a refused upload was stored: %d", status)
		}
	})
}

// The dehydrated device has no access token and no one logs in to it: a
// login naming its device ID is refused (400 M_INVALID_PARAM) and leaves
// it as it was. Deactivating the account deletes it with the other
// devices.
func TestDehydratedDevice_CannotLogInAndGoesWithTheAccount(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "DD"), "p"))
		login := m{"type": "m.login.password", "identifier": m{"type": "m.id.user", "user": "alice"}, "password": testPassword, "device_id": "DD"}
		if status, raw := s.Anonymous().Do("POST", "/_matrix/client/v3/login", login, nil); status != http.StatusBadRequest || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("login to the dehydrated device: %d %s", status, raw)
		}
		if status, _ := alice.Do("GET", dehydratedPath, nil, nil); status != http.StatusOK {
			t.Fatalf("the refused login changed the dehydrated device: %d", status)
		}
		login["device_id"] = "NEWDEVICE"
		s.Anonymous().MustDo("POST", "/_matrix/client/v3/login", login, nil)

		body := m{"auth": m{"type": "m.login.password", "password": testPassword, "identifier": m{"type": "m.id.user", "user": alice.UserID}}}
		alice.MustDo("POST", "/_matrix/client/v3/account/deactivate", body, nil)
		if k := query(bob, m{alice.UserID: []string{}}).DeviceKeys[alice.UserID]; len(k) != 0 {
			t.Fatalf("keys of a deactivated account: %v", k)
		}
		e2ee, err := e2eestore.New(context.Background(), s.DB)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := e2ee.DehydratedDevice(context.Background(), alice.UserID); ok || err != nil {
			t.Fatalf("dehydrated device of a deactivated account: %v %v", ok, err)
		}
	})
}

// experimental_features.msc3814_enabled (Synapse's switch; on by default
// in Myelin): switched off, the endpoints are unknown (404 M_UNRECOGNIZED,
// which matrix-js-sdk reads as "unsupported") and /versions does not list
// org.matrix.msc3814; on, it does.
func TestDehydratedDevice_SwitchedOffIsUnrecognized(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		for _, on := range []bool{false, true} {
			yaml := fmt.Sprintf("experimental_features:\n  msc3814_enabled: %v\n", on)
			s := servertest.Start(t, db, servertest.Options{ExtraYAML: yaml})
			alice := s.Register(fmt.Sprint("alice", on))
			var v struct {
				Unstable map[string]bool `json:"unstable_features"`
			}
			s.Anonymous().MustDo("GET", "/_matrix/client/versions", nil, &v)
			if v.Unstable["org.matrix.msc3814"] != on {
				t.Errorf("on=%v: /versions unstable_features: %v", on, v.Unstable)
			}
			status, raw := alice.Do("GET", dehydratedPath, nil, nil)
			if want := map[bool]string{false: "M_UNRECOGNIZED", true: "M_NOT_FOUND"}[on]; status != http.StatusNotFound || servertest.Errcode(raw) != want {
				t.Errorf("on=%v: GET: %d %s", on, status, raw)
			}
			if !on {
				if status, raw := alice.Do("PUT", dehydratedPath, m{}, nil); servertest.Errcode(raw) != "M_UNRECOGNIZED" {
					t.Errorf("switched off: PUT: %d %s", status, raw)
				}
			}
			s.Stop()
		}
	})
}

// PUT dehydrated_device replaces the device, its keys and its record in
// one transaction: when its last write fails (as a crash before it would
// end it), the previous dehydrated device is still there with its keys,
// and the new one has left no device and no keys behind.
func TestDehydratedDevice_ReplacementIsAllOrNothing(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		mustDehydrate(t, alice, dehydrateBody(t, newDehydratedDevice(t, alice, "D1"), "p1"))

		failWrites(t, s.DB, "INSERT", "e2ee_dehydrated_devices")
		if status, raw := alice.Do("PUT", dehydratedPath, dehydrateBody(t, newDehydratedDevice(t, alice, "D2"), "p2"), nil); status == http.StatusOK {
			t.Fatalf("PUT succeeded through the injected failure: %s", raw)
		}
		if ids := deviceIDs(t, alice); !slices.Contains(ids, "D1") || slices.Contains(ids, "D2") {
			t.Errorf("devices after the failed replacement: %v", ids)
		}
		if k := query(bob, m{alice.UserID: []string{}}).DeviceKeys[alice.UserID]; k["D1"].DeviceID != "D1" || k["D2"].DeviceID != "" {
			t.Errorf("keys after the failed replacement: %v", k)
		}
		var got struct {
			DeviceID string `json:"device_id"`
		}
		alice.MustDo("GET", dehydratedPath, nil, &got)
		if got.DeviceID != "D1" {
			t.Errorf("dehydrated device after the failed replacement: %q", got.DeviceID)
		}
	})
}
