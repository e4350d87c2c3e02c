package e2ee

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// Bounds of key handling. Clients keep about 50 one-time keys on the
// server (libolm and vodozemac accounts hold at most 100) and top them up.
const (
	// MaxOneTimeKeysPerUpload bounds the one-time keys of one upload.
	MaxOneTimeKeysPerUpload = 500
	// MaxOneTimeKeysPerDevice bounds the one-time keys stored per device.
	MaxOneTimeKeysPerDevice = 1000
	// maxKeyJSON bounds one key's JSON, and maxDeviceKeysJSON a device's
	// identity keys object.
	maxKeyJSON        = 4096
	maxDeviceKeysJSON = 16384
	// maxFallbackAlgorithms bounds the fallback keys of one upload.
	maxFallbackAlgorithms = 16
	// MaxQueryUsers and MaxClaimDevices bound /keys/query and
	// /keys/claim: a client asks about every member of a large room at
	// once.
	MaxQueryUsers   = 10000
	MaxClaimDevices = 10000
)

// UploadRequest is one POST /keys/upload.
type UploadRequest struct {
	UserID, DeviceID string
	DeviceKeys       json.RawMessage // nil when absent
	OneTimeKeys      map[string]json.RawMessage
	FallbackKeys     map[string]json.RawMessage
}

// deviceKeys is the shape of a device_keys object
// (definitions/device_keys.yaml).
type deviceKeys struct {
	UserID     string                       `json:"user_id"`
	DeviceID   string                       `json:"device_id"`
	Algorithms []string                     `json:"algorithms"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// Upload stores a device's keys and returns its one-time key counts.
func (s *Service) Upload(ctx context.Context, req UploadRequest) (map[string]int, error) {
	up, keysChanged, err := checkUpload(req)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.Upload(ctx, req.UserID, req.DeviceID, up)
	if err != nil {
		return nil, err
	}
	if *keysChanged {
		// New device keys (one-time keys are no one else's concern):
		// users sharing a room re-query them, other servers are told.
		if err := s.NotifyKeysChanged(ctx, req.UserID, req.DeviceID); err != nil {
			return nil, err
		}
	}
	return withSignedCurve25519(counts), nil
}

// checkUpload checks an upload's keys and returns what to store; the
// store's transaction sets *keysChanged when the device keys differ from
// the stored ones.
func checkUpload(req UploadRequest) (up e2eestore.Upload, keysChanged *bool, err error) {
	up = e2eestore.Upload{MaxOneTimeKeys: MaxOneTimeKeysPerDevice}
	keysChanged = new(bool)
	if req.DeviceKeys != nil && string(req.DeviceKeys) != "null" {
		c, keys, err := checkDeviceKeys(req.UserID, req.DeviceID, req.DeviceKeys)
		if err != nil {
			return up, nil, err
		}
		up.DeviceKeys = c
		up.CheckDeviceKeys = func(old json.RawMessage) error {
			*keysChanged = string(old) != string(c)
			if old == nil {
				return nil
			}
			var prev deviceKeys
			if err := json.Unmarshal(old, &prev); err != nil {
				return err
			}
			if !sameKeys(prev.Keys, keys) {
				// A device's identity keys are what other devices verified
				// and encrypt to; a new set needs a new device.
				return merr.InvalidParam("this device's identity keys are already set and cannot change")
			}
			return nil
		}
	}
	if len(req.OneTimeKeys) > MaxOneTimeKeysPerUpload {
		return up, nil, merr.InvalidParam(fmt.Sprintf("at most %d one-time keys per upload", MaxOneTimeKeysPerUpload))
	}
	if up.OneTimeKeys, err = parseKeys(req.OneTimeKeys, "one_time_keys"); err != nil {
		return up, nil, err
	}
	if len(req.FallbackKeys) > maxFallbackAlgorithms {
		return up, nil, merr.InvalidParam("too many fallback keys")
	}
	if up.FallbackKeys, err = parseKeys(req.FallbackKeys, "fallback_keys"); err != nil {
		return up, nil, err
	}
	for i := 1; i < len(up.FallbackKeys); i++ {
		if up.FallbackKeys[i].Algorithm == up.FallbackKeys[i-1].Algorithm {
			return up, nil, merr.InvalidParam("at most one fallback key per algorithm")
		}
	}
	return up, keysChanged, nil
}

// checkDeviceKeys checks a device_keys object (end_to_end_encryption.md
// "Uploading keys"): it is for the uploading device, includes the device's
// Ed25519 key and is signed with it. It returns the object in canonical
// form without "unsigned" (which others' servers add to), and its keys.
func checkDeviceKeys(userID, deviceID string, raw json.RawMessage) (json.RawMessage, map[string]string, error) {
	if len(raw) > maxDeviceKeysJSON {
		return nil, nil, merr.TooLarge("device_keys is too large")
	}
	c, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
	if err != nil || c[0] != '{' {
		return nil, nil, merr.BadJSON("device_keys must be a JSON object")
	}
	var dk deviceKeys
	if err := json.Unmarshal(c, &dk); err != nil {
		return nil, nil, merr.BadJSON("device_keys: " + err.Error())
	}
	if dk.UserID != userID || dk.DeviceID != deviceID {
		return nil, nil, merr.InvalidParam("device_keys must be for the device uploading them")
	}
	if len(dk.Algorithms) == 0 || len(dk.Algorithms) > 32 || len(dk.Keys) == 0 || len(dk.Keys) > 32 {
		return nil, nil, merr.InvalidParam("device_keys needs algorithms and keys")
	}
	edID := signing.AlgorithmEd25519 + ":" + deviceID
	pub, err := signing.DecodeBase64(dk.Keys[edID])
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, nil, merr.InvalidParam("device_keys must hold the device's Ed25519 key " + edID)
	}
	if err := signing.VerifyDeviceJSON(c, userID, deviceID, ed25519.PublicKey(pub)); err != nil {
		return nil, nil, merr.BadRequest(merr.CodeInvalidSignature, "device_keys is not signed by the device's Ed25519 key")
	}
	if c, err = canonicaljson.RemoveKeys(c, "unsigned"); err != nil {
		return nil, nil, err
	}
	return c, dk.Keys, nil
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// parseKeys checks a map of one-time or fallback keys ("<algorithm>:<key
// ID>" → a string or a signed object) and returns them sorted by name, in
// canonical form so that a re-upload compares equal. Signatures are the
// claiming client's to check.
func parseKeys(m map[string]json.RawMessage, field string) ([]e2eestore.OneTimeKey, error) {
	out := make([]e2eestore.OneTimeKey, 0, len(m))
	for name, raw := range m {
		alg, id, ok := strings.Cut(name, ":")
		if !ok || alg == "" || id == "" || len(name) > 255 {
			return nil, merr.InvalidParam(fmt.Sprintf("%s: key names are <algorithm>:<key ID>, got %q", field, name))
		}
		if len(raw) > maxKeyJSON {
			return nil, merr.TooLarge(fmt.Sprintf("%s: key %s is too large", field, name))
		}
		c, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
		if err != nil || (c[0] != '{' && c[0] != '"') {
			return nil, merr.BadJSON(fmt.Sprintf("%s: key %s must be a string or an object", field, name))
		}
		out = append(out, e2eestore.OneTimeKey{Algorithm: alg, KeyID: id, JSON: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullID() < out[j].FullID() })
	return out, nil
}

// withSignedCurve25519 lists signed_curve25519 even at zero, as Synapse
// does: some clients read a missing count as "the server does not say" and
// never upload keys.
func withSignedCurve25519(counts map[string]int) map[string]int {
	if counts == nil {
		counts = map[string]int{}
	}
	if _, ok := counts["signed_curve25519"]; !ok {
		counts["signed_curve25519"] = 0
	}
	return counts
}

// KeyCounts reports the device's one-time key counts and unused fallback
// key algorithms for /sync (syncapi.DeviceKeyCounts).
func (s *Service) KeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, []string, error) {
	counts, fallback, err := s.store.KeyCounts(ctx, userID, deviceID)
	if err != nil {
		return nil, nil, err
	}
	return withSignedCurve25519(counts), fallback, nil
}

// UserKeyCounts reports KeyCounts for each of a local user's devices, by
// device ID (for MSC3202's counts in appservice transactions).
func (s *Service) UserKeyCounts(ctx context.Context, userID string) (map[string]map[string]int, map[string][]string, error) {
	devices, err := s.devices.ListDevices(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	counts, fallback := map[string]map[string]int{}, map[string][]string{}
	for _, d := range devices {
		c, f, err := s.KeyCounts(ctx, userID, d.DeviceID)
		if err != nil {
			return nil, nil, err
		}
		if f == nil {
			f = []string{}
		}
		counts[d.DeviceID], fallback[d.DeviceID] = c, f
	}
	return counts, fallback, nil
}

// serverOf returns the server of userID and whether it is this one.
func (s *Service) serverOf(userID string) (string, bool, error) {
	server, err := ids.UserServer(userID)
	if err != nil {
		return "", false, merr.InvalidParam(fmt.Sprintf("invalid user ID %q", userID))
	}
	return string(server), string(server) == s.serverName, nil
}

// QueryResult is the answer of /keys/query.
type QueryResult struct {
	DeviceKeys map[string]map[string]json.RawMessage
	// MasterKeys, SelfSigningKeys and UserSigningKeys are the users'
	// cross-signing keys by user ID; user-signing keys only the
	// requester's own. Other servers' users' are as their servers
	// answered them.
	MasterKeys      map[string]json.RawMessage
	SelfSigningKeys map[string]json.RawMessage
	UserSigningKeys map[string]json.RawMessage
	Failures        map[string]json.RawMessage
}

// Query returns, for requester, the device keys of users (user ID →
// device IDs, none for all), with each device's display name in unsigned,
// and their cross-signing keys, with the signatures requester may see
// merged in. Other servers' users are answered from the cache of their
// device lists or asked for, each server at once, for at most timeout;
// servers that did not answer in time are listed under failures. Unknown
// users and devices are left out (keys.yaml).
func (s *Service) Query(ctx context.Context, requester string, users map[string][]string, timeout time.Duration) (*QueryResult, error) {
	if len(users) > MaxQueryUsers {
		return nil, merr.InvalidParam(fmt.Sprintf("at most %d users per query", MaxQueryUsers))
	}
	res := &QueryResult{DeviceKeys: map[string]map[string]json.RawMessage{}, Failures: map[string]json.RawMessage{},
		MasterKeys: map[string]json.RawMessage{}, SelfSigningKeys: map[string]json.RawMessage{}, UserSigningKeys: map[string]json.RawMessage{}}
	remote := map[string]map[string][]string{}
	for userID, wanted := range users {
		server, local, err := s.serverOf(userID)
		if err != nil {
			return nil, err
		}
		if len(wanted) > maxRemoteDevices {
			return nil, merr.InvalidParam(fmt.Sprintf("at most %d devices per user", maxRemoteDevices))
		}
		if !local {
			if remote[server] == nil {
				remote[server] = map[string][]string{}
			}
			remote[server][userID] = wanted
			continue
		}
		devs, err := s.localDeviceKeys(ctx, userID, wanted)
		if err != nil {
			return nil, err
		}
		res.DeviceKeys[userID] = devs
		if err := s.addCrossSigning(ctx, requester, userID, res); err != nil {
			return nil, err
		}
	}
	if len(remote) > 0 {
		s.queryRemote(ctx, remote, timeout, res)
	}
	return res, nil
}

// localDeviceKeys returns the keys of a local user's devices (wanted ones,
// or all) that exist and have uploaded keys, with the user's cross-signing
// signatures of them.
func (s *Service) localDeviceKeys(ctx context.Context, userID string, wanted []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	keys, err := s.store.UserDeviceKeys(ctx, userID)
	if err != nil || len(keys) == 0 {
		return out, err
	}
	devices, err := s.devices.ListDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, d := range wanted {
		want[d] = true
	}
	for _, d := range devices {
		kj, ok := keys[d.DeviceID]
		if !ok || (len(want) > 0 && !want[d.DeviceID]) {
			continue
		}
		if kj, err = withDisplayName(kj, d.DisplayName); err != nil {
			return nil, err
		}
		out[d.DeviceID] = kj
	}
	return out, s.mergeDeviceSignatures(ctx, userID, out)
}

// withDisplayName sets a device's display name in its keys' unsigned, as
// /keys/query shows them.
func withDisplayName(kj json.RawMessage, name string) (json.RawMessage, error) {
	unsigned, err := json.Marshal(map[string]string{"device_display_name": name})
	if name == "" {
		unsigned, err = []byte(`{}`), nil
	}
	if err != nil {
		return nil, err
	}
	return canonicaljson.Set(kj, "unsigned", unsigned)
}

// ClaimResult is the answer of /keys/claim.
type ClaimResult struct {
	// OneTimeKeys maps user → device → "<algorithm>:<key ID>" → key.
	OneTimeKeys map[string]map[string]map[string]json.RawMessage
	Failures    map[string]json.RawMessage
}

// Claim claims one key per named device (user → device → algorithm): a
// one-time key, or when the device has none left its fallback key. Devices
// with neither are left out.
//
// Other servers' devices are claimed from their servers, each at once,
// for at most timeout; servers that did not answer are listed under
// failures.
func (s *Service) Claim(ctx context.Context, req map[string]map[string]string, timeout time.Duration) (*ClaimResult, error) {
	res := &ClaimResult{OneTimeKeys: map[string]map[string]map[string]json.RawMessage{}, Failures: map[string]json.RawMessage{}}
	claims, remote, err := s.claimsOf(req)
	if err != nil {
		return nil, err
	}
	if len(remote) > 0 {
		s.claimRemote(ctx, remote, timeout, res)
	}
	if err := s.claimLocal(ctx, claims, res); err != nil {
		return nil, err
	}
	return res, nil
}

// claimsOf checks a claim request and splits it into the claims of local
// devices and, per other server, user → device → algorithm.
func (s *Service) claimsOf(req map[string]map[string]string) ([]e2eestore.Claim, map[string]map[string]map[string]string, error) {
	var claims []e2eestore.Claim
	remote := map[string]map[string]map[string]string{}
	n := 0
	for userID, devices := range req {
		server, local, err := s.serverOf(userID)
		if err != nil {
			return nil, nil, err
		}
		for deviceID, alg := range devices {
			if alg == "" || len(alg) > 255 || len(deviceID) > 255 {
				return nil, nil, merr.InvalidParam("invalid device ID or algorithm")
			}
			if local {
				claims = append(claims, e2eestore.Claim{UserID: userID, DeviceID: deviceID, Algorithm: alg})
			}
		}
		if n += len(devices); n > MaxClaimDevices {
			return nil, nil, merr.InvalidParam(fmt.Sprintf("at most %d devices per claim", MaxClaimDevices))
		}
		if !local {
			if remote[server] == nil {
				remote[server] = map[string]map[string]string{}
			}
			remote[server][userID] = devices
		}
	}
	return claims, remote, nil
}

// claimLocal claims keys of local devices into res.
func (s *Service) claimLocal(ctx context.Context, claims []e2eestore.Claim, res *ClaimResult) error {
	// A fixed order keeps concurrent claims from waiting on each other in
	// opposite orders.
	sort.Slice(claims, func(i, j int) bool {
		a, b := claims[i], claims[j]
		return a.UserID < b.UserID || a.UserID == b.UserID && a.DeviceID < b.DeviceID
	})
	got, err := s.store.ClaimKeys(ctx, claims)
	if err != nil {
		return err
	}
	for i, k := range got {
		if !k.OK {
			continue
		}
		c := claims[i]
		byDevice := res.OneTimeKeys[c.UserID]
		if byDevice == nil {
			byDevice = map[string]map[string]json.RawMessage{}
			res.OneTimeKeys[c.UserID] = byDevice
		}
		byDevice[c.DeviceID] = map[string]json.RawMessage{k.Key.FullID(): k.Key.JSON}
	}
	return nil
}
