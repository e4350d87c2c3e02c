package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/signing"
)

// testDevice is a client device's Ed25519 identity key.
type testDevice struct {
	c    *servertest.Client
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newTestDevice(t *testing.T, c *servertest.Client) *testDevice {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testDevice{c: c, priv: priv, pub: pub}
}

// sign signs obj as the device does (appendices "Signing JSON"), by hand
// rather than through internal/signing, so the test checks the server
// against the spec.
func (d *testDevice) sign(t *testing.T, obj m) m {
	t.Helper()
	delete(obj, "signatures")
	raw, err := canonicaljson.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(d.priv, raw)
	obj["signatures"] = m{d.c.UserID: m{"ed25519:" + d.c.DeviceID: signing.EncodeBase64(sig)}}
	return obj
}

// deviceKeys is the device's signed device_keys object.
func (d *testDevice) deviceKeys(t *testing.T) m {
	return d.sign(t, m{
		"user_id": d.c.UserID, "device_id": d.c.DeviceID,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       m{"curve25519:" + d.c.DeviceID: "curve-" + d.c.DeviceID, "ed25519:" + d.c.DeviceID: signing.EncodeBase64(d.pub)},
	})
}

func (d *testDevice) signedKey(t *testing.T, key string, fallback bool) m {
	k := m{"key": key}
	if fallback {
		k["fallback"] = true
	}
	return d.sign(t, k)
}

type uploadResp struct {
	Counts map[string]int `json:"one_time_key_counts"`
}

func upload(c *servertest.Client, body m) (int, []byte, uploadResp) {
	var resp uploadResp
	status, raw := c.Do("POST", "/_matrix/client/v3/keys/upload", body, &resp)
	return status, raw, resp
}

func mustUpload(t *testing.T, c *servertest.Client, body m) uploadResp {
	t.Helper()
	status, raw, resp := upload(c, body)
	if status != http.StatusOK {
		t.Fatalf("keys/upload: %d %s", status, raw)
	}
	return resp
}

type queryResp struct {
	DeviceKeys map[string]map[string]struct {
		UserID   string            `json:"user_id"`
		DeviceID string            `json:"device_id"`
		Keys     map[string]string `json:"keys"`
		Unsigned struct {
			Name string `json:"device_display_name"`
		} `json:"unsigned"`
		Signatures map[string]map[string]string `json:"signatures"`
	} `json:"device_keys"`
	Failures map[string]json.RawMessage `json:"failures"`
}

func query(c *servertest.Client, users m) queryResp {
	var resp queryResp
	c.MustDo("POST", "/_matrix/client/v3/keys/query", m{"device_keys": users}, &resp)
	return resp
}

type claimResp struct {
	OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	Failures    map[string]json.RawMessage                       `json:"failures"`
}

func claim(c *servertest.Client, req m) claimResp {
	var resp claimResp
	c.MustDo("POST", "/_matrix/client/v3/keys/claim", m{"one_time_keys": req}, &resp)
	return resp
}

// A device publishes its signed identity keys; other users download them,
// with the device's display name added under unsigned and the signature
// intact (keys.yaml, end_to_end_encryption.md "Downloading keys").
func TestKeys_UploadedDeviceKeysAreQueried(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		bobDev := newTestDevice(t, bob)
		resp := mustUpload(t, bob, m{"device_keys": bobDev.deviceKeys(t)})
		if resp.Counts["signed_curve25519"] != 0 {
			t.Fatalf("counts: %v", resp.Counts)
		}
		got := query(alice, m{bob.UserID: []string{}, alice.UserID: []string{}})
		dk, ok := got.DeviceKeys[bob.UserID][bob.DeviceID]
		if !ok || dk.UserID != bob.UserID || dk.Keys["ed25519:"+bob.DeviceID] != signing.EncodeBase64(bobDev.pub) {
			t.Fatalf("query: %+v", got)
		}
		if dk.Signatures[bob.UserID]["ed25519:"+bob.DeviceID] == "" {
			t.Fatalf("signature lost: %+v", dk)
		}
		if len(got.DeviceKeys[alice.UserID]) != 0 || got.Failures == nil || len(got.Failures) != 0 {
			t.Fatalf("alice has no keys, failures empty: %+v", got)
		}
		// Only the listed devices.
		if got := query(alice, m{bob.UserID: []string{"OTHER"}}); len(got.DeviceKeys[bob.UserID]) != 0 {
			t.Fatalf("listed device: %+v", got)
		}
		bob.MustDo("PUT", "/_matrix/client/v3/devices/"+bob.DeviceID, m{"display_name": "Bob's phone"}, nil)
		if got := query(alice, m{bob.UserID: []string{bob.DeviceID}}); got.DeviceKeys[bob.UserID][bob.DeviceID].Unsigned.Name != "Bob's phone" {
			t.Fatalf("display name: %+v", got)
		}
	})
}

// Device IDs are opaque text, not key-version characters: a device named
// with other characters signs with "ed25519:<its ID>" all the same.
func TestKeys_DeviceIDWithAnyCharactersSigns(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		s.Register("bob")
		bob := login(t, s, "bob", "phone-1.é")
		mustUpload(t, bob, m{"device_keys": newTestDevice(t, bob).deviceKeys(t)})
		if got := query(bob, m{bob.UserID: []string{}}); len(got.DeviceKeys[bob.UserID]) != 1 {
			t.Fatalf("query: %+v", got)
		}
	})
}

func TestKeys_UploadRefusesBadDeviceKeys(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		bob2 := login(t, s, "bob", "")
		dev := newTestDevice(t, bob)
		other := newTestDevice(t, bob)

		badSig := dev.deviceKeys(t)
		badSig["signatures"] = other.deviceKeys(t)["signatures"]
		unsigned := dev.deviceKeys(t)
		delete(unsigned, "signatures")
		tampered := dev.deviceKeys(t)
		tampered["algorithms"] = []string{"m.megolm.v1.aes-sha2"}
		noEd := dev.sign(t, m{"user_id": bob.UserID, "device_id": bob.DeviceID, "algorithms": []string{"x"},
			"keys": m{"curve25519:" + bob.DeviceID: "c"}})
		for _, tc := range []struct {
			name   string
			c      *servertest.Client
			keys   any
			status int
			code   string
		}{
			{"signed by another key", bob, badSig, 400, "M_INVALID_SIGNATURE"},
			{"not signed", bob, unsigned, 400, "M_INVALID_SIGNATURE"},
			{"changed after signing", bob, tampered, 400, "M_INVALID_SIGNATURE"},
			{"without its Ed25519 key", bob, noEd, 400, "M_INVALID_PARAM"},
			{"for another device of the user", bob2, dev.deviceKeys(t), 400, "M_INVALID_PARAM"},
			{"for another user", alice, dev.deviceKeys(t), 400, "M_INVALID_PARAM"},
			{"not an object", bob, "keys", 400, "M_BAD_JSON"},
		} {
			status, raw, _ := upload(tc.c, m{"device_keys": tc.keys})
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		if got := query(alice, m{bob.UserID: []string{}}); len(got.DeviceKeys[bob.UserID]) != 0 {
			t.Fatalf("refused keys were stored: %+v", got)
		}
	})
}

// A device's identity keys never change once set; uploading the same keys
// again is fine.
func TestKeys_IdentityKeysCannotChange(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		bob := s.Register("bob")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t)})
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t)})
		changed := dev.deviceKeys(t)
		changed["keys"].(m)["curve25519:"+bob.DeviceID] = "another curve key"
		dev.sign(t, changed)
		status, raw, _ := upload(bob, m{"device_keys": changed})
		if status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("changed curve25519 key: %d %s", status, raw)
		}
		newDev := newTestDevice(t, bob)
		status, raw, _ = upload(bob, m{"device_keys": newDev.deviceKeys(t)})
		if status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("new ed25519 key: %d %s", status, raw)
		}
		got := query(bob, m{bob.UserID: []string{}})
		if got.DeviceKeys[bob.UserID][bob.DeviceID].Keys["ed25519:"+bob.DeviceID] != signing.EncodeBase64(dev.pub) {
			t.Fatalf("stored keys changed: %+v", got)
		}
	})
}

// One-time keys are counted per algorithm, signed (objects) and unsigned
// (strings) alike; a key ID uploaded again with the same content is no
// change, with other content it is refused (as Synapse does).
func TestKeys_OneTimeKeysCountedAndNotReplaced(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		bob := s.Register("bob")
		dev := newTestDevice(t, bob)
		k1 := dev.signedKey(t, "one", false)
		resp := mustUpload(t, bob, m{"one_time_keys": m{"signed_curve25519:AAAA": k1, "signed_curve25519:AAAB": dev.signedKey(t, "two", false),
			"curve25519:AAAC": "three"}})
		if resp.Counts["signed_curve25519"] != 2 || resp.Counts["curve25519"] != 1 {
			t.Fatalf("counts: %v", resp.Counts)
		}
		resp = mustUpload(t, bob, m{"one_time_keys": m{"signed_curve25519:AAAA": k1}})
		if resp.Counts["signed_curve25519"] != 2 {
			t.Fatalf("same key again: %v", resp.Counts)
		}
		status, raw, _ := upload(bob, m{"one_time_keys": m{"signed_curve25519:AAAA": dev.signedKey(t, "other", false), "signed_curve25519:AAAD": dev.signedKey(t, "four", false)}})
		if status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("other content under an existing ID: %d %s", status, raw)
		}
		if got := syncDevice(bob, "").OTKCounts; got["signed_curve25519"] != 2 || got["curve25519"] != 1 {
			t.Fatalf("a refused upload changed the counts: %v", got)
		}
		for _, tc := range []struct {
			name string
			keys m
		}{
			{"name without algorithm", m{"AAAA": "x"}},
			{"number value", m{"curve25519:AAAE": 5}},
		} {
			if status, raw, _ := upload(bob, m{"one_time_keys": tc.keys}); status != 400 {
				t.Errorf("%s: %d %s", tc.name, status, raw)
			}
		}
		many := m{}
		for i := range 501 {
			many[fmt.Sprintf("curve25519:K%d", i)] = "k"
		}
		if status, raw, _ := upload(bob, m{"one_time_keys": many}); status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("501 keys in one upload: %d %s", status, raw)
		}
	})
}

// Claiming hands out each one-time key once, then the fallback key, which
// is kept and reported used in /sync until a new one is uploaded
// (end_to_end_encryption.md "One-time and fallback keys").
func TestKeys_ClaimExhaustsOneTimeKeysThenFallsBack(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t),
			"one_time_keys": m{"signed_curve25519:A1": dev.signedKey(t, "one", false), "signed_curve25519:A2": dev.signedKey(t, "two", false)},
			"fallback_keys": m{"signed_curve25519:F1": dev.signedKey(t, "fallback", true)}})
		first := syncDevice(bob, "")
		if first.OTKCounts["signed_curve25519"] != 2 || fmt.Sprint(first.UnusedFallback) != "[signed_curve25519]" {
			t.Fatalf("initial sync: %v %v", first.OTKCounts, first.UnusedFallback)
		}
		var got []string
		for range 4 {
			resp := claim(alice, m{bob.UserID: m{bob.DeviceID: "signed_curve25519"}})
			for id := range resp.OneTimeKeys[bob.UserID][bob.DeviceID] {
				got = append(got, id)
			}
		}
		if fmt.Sprint(got) != "[signed_curve25519:A1 signed_curve25519:A2 signed_curve25519:F1 signed_curve25519:F1]" {
			t.Fatalf("claimed %v", got)
		}
		after := syncDevice(bob, first.NextBatch)
		if after.OTKCounts["signed_curve25519"] != 0 || len(after.UnusedFallback) != 0 || after.UnusedFallback == nil {
			t.Fatalf("after the claims: %v %v", after.OTKCounts, after.UnusedFallback)
		}
		// The fallback key as it was uploaded, signature included.
		resp := claim(alice, m{bob.UserID: m{bob.DeviceID: "signed_curve25519"}})
		var fb struct {
			Fallback   bool                         `json:"fallback"`
			Signatures map[string]map[string]string `json:"signatures"`
		}
		if err := json.Unmarshal(resp.OneTimeKeys[bob.UserID][bob.DeviceID]["signed_curve25519:F1"], &fb); err != nil || !fb.Fallback || len(fb.Signatures) != 1 {
			t.Fatalf("fallback key: %s", resp.OneTimeKeys[bob.UserID][bob.DeviceID]["signed_curve25519:F1"])
		}
		// The same fallback key again stays used; a new one is unused.
		mustUpload(t, bob, m{"fallback_keys": m{"signed_curve25519:F1": dev.signedKey(t, "fallback", true)}})
		if got := syncDevice(bob, "").UnusedFallback; len(got) != 0 {
			t.Fatalf("re-uploaded used key: %v", got)
		}
		mustUpload(t, bob, m{"fallback_keys": m{"signed_curve25519:F2": dev.signedKey(t, "fallback2", true)}})
		if got := syncDevice(bob, "").UnusedFallback; fmt.Sprint(got) != "[signed_curve25519]" {
			t.Fatalf("new fallback key: %v", got)
		}
		// Unknown devices and algorithms the device has no key for are
		// left out.
		resp = claim(alice, m{bob.UserID: m{"NOSUCH": "signed_curve25519"}, alice.UserID: m{alice.DeviceID: "signed_curve25519"}})
		if len(resp.OneTimeKeys) != 0 || len(resp.Failures) != 0 {
			t.Fatalf("nothing to claim: %+v", resp)
		}
	})
}

// At most one fallback key per algorithm in one upload.
func TestKeys_TwoFallbackKeysOfOneAlgorithmRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		bob := s.Register("bob")
		dev := newTestDevice(t, bob)
		status, raw, _ := upload(bob, m{"fallback_keys": m{"signed_curve25519:F1": dev.signedKey(t, "a", true), "signed_curve25519:F2": dev.signedKey(t, "b", true)}})
		if status != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Fatalf("%d %s", status, raw)
		}
	})
}

// A server that cannot be reached is listed in failures, honestly, rather
// than its users answered as users without devices (keys.yaml).
func TestKeys_RemoteUsersReportedInFailures(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		q := query(alice, m{"@bob:remote.example": []string{}})
		if _, ok := q.Failures["remote.example"]; !ok || len(q.DeviceKeys) != 0 {
			t.Fatalf("query: %+v", q)
		}
		c := claim(alice, m{"@bob:remote.example": m{"D": "signed_curve25519"}})
		if _, ok := c.Failures["remote.example"]; !ok {
			t.Fatalf("claim: %+v", c)
		}
	})
}

// A deleted device's keys go with it.
func TestKeys_DeletedDeviceKeysGone(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		s.Register("bob")
		bob := login(t, s, "bob", "PHONE")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t), "one_time_keys": m{"signed_curve25519:A1": dev.signedKey(t, "one", false)}})
		bob.MustDo("POST", "/_matrix/client/v3/logout", m{}, nil)
		if got := query(alice, m{bob.UserID: []string{}}); len(got.DeviceKeys[bob.UserID]) != 0 {
			t.Fatalf("query: %+v", got)
		}
		if got := claim(alice, m{bob.UserID: m{"PHONE": "signed_curve25519"}}); len(got.OneTimeKeys) != 0 {
			t.Fatalf("claim: %+v", got)
		}
	})
}

func TestKeys_BadRequestsRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		for _, tc := range []struct {
			name, path string
			body       any
			code       string
		}{
			{"query without device_keys", "query", m{}, "M_MISSING_PARAM"},
			{"query with a bad user ID", "query", m{"device_keys": m{"bob": []string{}}}, "M_INVALID_PARAM"},
			{"query with devices not a list", "query", m{"device_keys": m{"@bob:localhost": "D"}}, "M_BAD_JSON"},
			{"claim without one_time_keys", "claim", m{}, "M_MISSING_PARAM"},
			{"claim with a bad user ID", "claim", m{"one_time_keys": m{"bob": m{"D": "a"}}}, "M_INVALID_PARAM"},
			{"upload not JSON", "upload", "{", "M_NOT_JSON"},
		} {
			status, raw := alice.Do("POST", "/_matrix/client/v3/keys/"+tc.path, tc.body, nil)
			if status != 400 || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, status, raw, tc.code)
			}
		}
		for _, p := range []string{"upload", "query", "claim"} {
			if status, _ := s.Anonymous().Do("POST", "/_matrix/client/v3/keys/"+p, m{}, nil); status != 401 {
				t.Errorf("%s without a token: %d", p, status)
			}
		}
	})
}
