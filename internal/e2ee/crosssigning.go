package e2ee

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// Cross-signing (end_to_end_encryption.md "Cross-signing"): each user has
// a master key, which signs their self-signing key (which signs their
// devices) and their user-signing key (which signs other users' master
// keys). The server checks each key and signature before storing it, so
// that what /keys/query hands out is consistent.

// maxCrossSigningKeyJSON bounds one cross-signing key object.
const maxCrossSigningKeyJSON = 16384

// maxSignedObjects bounds the keys of one /keys/signatures/upload.
const maxSignedObjects = 1000

// CrossSigningUpload is one POST /keys/device_signing/upload; nil for a key
// not in the request.
type CrossSigningUpload struct {
	MasterKey, SelfSigningKey, UserSigningKey json.RawMessage
}

func (u CrossSigningUpload) byUsage() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for usage, raw := range map[string]json.RawMessage{e2eestore.UsageMaster: u.MasterKey,
		e2eestore.UsageSelfSigning: u.SelfSigningKey, e2eestore.UsageUserSigning: u.UserSigningKey} {
		if raw != nil && string(raw) != "null" {
			out[usage] = raw
		}
	}
	return out
}

// crossSigningKey is the shape of a CrossSigningKey
// (definitions/cross_signing_key.yaml).
type crossSigningKey struct {
	UserID     string                       `json:"user_id"`
	Usage      []string                     `json:"usage"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// parsedKey is a checked cross-signing key.
type parsedKey struct {
	canonical json.RawMessage
	pub       ed25519.PublicKey
	// id is the public key in unpadded base64, the "device ID" part of
	// the key's ID.
	id string
}

// parseCrossSigningKey checks a cross-signing key of the user for the
// usage: its user, its usage, and exactly one Ed25519 key named after
// itself. It returns the key in canonical form without "unsigned".
func parseCrossSigningKey(raw json.RawMessage, userID, usage string) (*parsedKey, error) {
	invalid := merr.InvalidParam("Invalid " + usage + " key")
	if len(raw) > maxCrossSigningKeyJSON {
		return nil, merr.TooLarge(usage + " key is too large")
	}
	c, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
	if err != nil || c[0] != '{' {
		return nil, merr.BadJSON(usage + " key must be a JSON object")
	}
	var k crossSigningKey
	if err := json.Unmarshal(c, &k); err != nil {
		return nil, invalid
	}
	if k.UserID != userID || !slices.Contains(k.Usage, usage) || len(k.Keys) != 1 {
		return nil, invalid
	}
	var id string
	for name, value := range k.Keys {
		if name != signing.AlgorithmEd25519+":"+value {
			return nil, invalid
		}
		id = value
	}
	pub, err := signing.DecodeBase64(id)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, invalid
	}
	if c, err = canonicaljson.RemoveKeys(c, "unsigned"); err != nil {
		return nil, err
	}
	return &parsedKey{canonical: c, pub: ed25519.PublicKey(pub), id: id}, nil
}

// storedKey parses a stored key; nil when there is none.
func storedKey(stored map[string]json.RawMessage, userID, usage string) (*parsedKey, error) {
	raw, ok := stored[usage]
	if !ok {
		return nil, nil
	}
	k, err := parseCrossSigningKey(raw, userID, usage)
	if err != nil {
		return nil, fmt.Errorf("stored %s key of %s: %w", usage, userID, err)
	}
	return k, nil
}

// CrossSigningNeedsAuth reports whether an upload must pass
// user-interactive authentication: always, except when the user has no
// master key yet or the upload holds no new key (cross_signing.yaml; the
// second case keeps a retried upload idempotent).
func (s *Service) CrossSigningNeedsAuth(ctx context.Context, userID string, up CrossSigningUpload) (bool, error) {
	stored, err := s.store.CrossSigningKeys(ctx, userID)
	if err != nil {
		return false, err
	}
	if _, ok := stored[e2eestore.UsageMaster]; !ok {
		return false, nil
	}
	for usage, raw := range up.byUsage() {
		k, err := parseCrossSigningKey(raw, userID, usage)
		if err != nil {
			// Let the upload itself report what is wrong, after auth.
			return true, nil
		}
		if string(k.canonical) != string(stored[usage]) {
			return true, nil
		}
	}
	return false, nil
}

// UploadCrossSigningKeys stores the user's new cross-signing keys.
// authenticated says whether the request passed user-interactive
// authentication; without it only a first upload (no master key stored)
// or one without new keys is allowed.
func (s *Service) UploadCrossSigningKeys(ctx context.Context, userID string, up CrossSigningUpload, authenticated bool) error {
	keys := map[string]*parsedKey{}
	for usage, raw := range up.byUsage() {
		k, err := parseCrossSigningKey(raw, userID, usage)
		if err != nil {
			return err
		}
		keys[usage] = k
	}
	// A cross-signing public key is verified as if it were a device ID
	// (end_to_end_encryption.md "Cross-signing"), so none may be one.
	if len(keys) > 0 {
		devices, err := s.devices.ListDevices(ctx, userID)
		if err != nil {
			return err
		}
		for _, d := range devices {
			for _, k := range keys {
				if d.DeviceID == k.id {
					return merr.Forbidden("Key ID in use")
				}
			}
		}
	}
	written, err := s.store.PutCrossSigningKeys(ctx, userID, func(stored map[string]json.RawMessage) (map[string]json.RawMessage, error) {
		changed, err := crossSigningChanges(userID, keys, stored)
		if err == nil && len(changed) > 0 && !authenticated && stored[e2eestore.UsageMaster] != nil {
			// Another upload stored a master key after this request was
			// let through without authentication.
			return nil, merr.Forbidden("Cross-signing keys changed meanwhile; authenticate and retry")
		}
		return changed, err
	})
	if err != nil {
		return err
	}
	if len(written) > 0 {
		_, m := written[e2eestore.UsageMaster]
		_, ss := written[e2eestore.UsageSelfSigning]
		s.crossSigningChanged(ctx, userID, m || ss)
	}
	return nil
}

// crossSigningChanges checks new cross-signing keys of the user against
// the stored ones and returns those that differ from them, by usage: the
// self-signing and user-signing keys must be signed by the master key sent
// with them, or else the stored one (cross_signing.yaml).
func crossSigningChanges(userID string, keys map[string]*parsedKey, stored map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	master := keys[e2eestore.UsageMaster]
	if master == nil {
		m, err := storedKey(stored, userID, e2eestore.UsageMaster)
		if err != nil {
			return nil, err
		}
		master = m
	}
	if master == nil {
		return nil, merr.MissingParam("No master key available")
	}
	for _, usage := range []string{e2eestore.UsageSelfSigning, e2eestore.UsageUserSigning} {
		k := keys[usage]
		if k != nil && signing.VerifyDeviceJSON(k.canonical, userID, master.id, master.pub) != nil {
			return nil, merr.BadRequest(merr.CodeInvalidSignature, "Invalid signature on "+usage+" key")
		}
	}
	changed := map[string]json.RawMessage{}
	for usage, k := range keys {
		if string(stored[usage]) != string(k.canonical) {
			changed[usage] = k.canonical
		}
	}
	return changed, nil
}

// crossSigningChanged announces a change of a local user's cross-signing
// keys or of the signatures of their master key: local users sharing a
// room with them (and the user's own devices) see them in
// device_lists.changed; with public (the master or self-signing key, which
// other servers keep) the servers sharing a room with the user get an
// m.signing_key_update. The change is stored before; a failure to announce
// it is logged, and clients still see it on their next /keys/query.
func (s *Service) crossSigningChanged(ctx context.Context, userID string, public bool) {
	if err := s.NotifyKeysChanged(ctx, userID); err != nil {
		s.log.Warn("announcing new cross-signing keys", "user", userID, "err", err)
	}
	if public {
		if err := s.sendSigningKeyUpdate(ctx, userID); err != nil {
			s.log.Warn("sending m.signing_key_update", "user", userID, "err", err)
		}
	}
}

// Failure is one key's failure in /keys/signatures/upload: as Synapse
// answers, the HTTP status the error would have had, the errcode and the
// message.
type Failure struct {
	Status  int    `json:"status"`
	Errcode string `json:"errcode"`
	Error   string `json:"error"`
}

func failure(status int, code, msg string) Failure {
	return Failure{Status: status, Errcode: code, Error: msg}
}

var (
	failBadSignature = failure(400, merr.CodeInvalidSignature, "Invalid signature")
	failNoMatch      = failure(400, merr.CodeUnknown, "Key does not match")
	failUnknownKey   = failure(404, merr.CodeNotFound, "Unknown device")
)

func failNoKey(usage, userID string) Failure {
	return failure(404, merr.CodeNotFound, fmt.Sprintf("No %s key found for %s", usage, userID))
}

// UploadSignatures checks and stores signatures (POST
// /keys/signatures/upload): the caller's devices signed by their
// self-signing key, the caller's master key signed by their devices, and
// other users' master keys signed by the caller's user-signing key. Each
// signed object must be the stored key with signatures added. A key whose
// signature fails is reported in the result (user → key ID → failure)
// and the others are stored.
func (s *Service) UploadSignatures(ctx context.Context, userID string, body map[string]map[string]json.RawMessage) (map[string]map[string]Failure, error) {
	n := 0
	for target, keys := range body {
		if _, _, err := s.serverOf(target); err != nil {
			return nil, err
		}
		for _, raw := range keys {
			n++
			if len(raw) == 0 || raw[0] != '{' {
				return nil, merr.InvalidParam("signed keys must be JSON objects")
			}
		}
	}
	if n > maxSignedObjects {
		return nil, merr.InvalidParam(fmt.Sprintf("at most %d signed keys per request", maxSignedObjects))
	}
	failures := map[string]map[string]Failure{}
	fail := func(user, key string, f Failure) {
		if failures[user] == nil {
			failures[user] = map[string]Failure{}
		}
		failures[user][key] = f
	}
	own, err := s.store.CrossSigningKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	var sigs []e2eestore.Signature
	if keys := body[userID]; len(keys) > 0 {
		got, err := s.selfSignatures(ctx, userID, own, keys, fail)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, got...)
	}
	for target, keys := range body {
		if target == userID || len(keys) == 0 {
			continue
		}
		got, err := s.otherUserSignatures(ctx, userID, own, target, keys, fail)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, got...)
	}
	if err := s.store.AddSignatures(ctx, sigs); err != nil {
		return nil, err
	}
	master, err := storedKey(own, userID, e2eestore.UsageMaster)
	if err != nil {
		return nil, err
	}
	s.signaturesChanged(ctx, userID, master, sigs)
	return failures, nil
}

// signaturesChanged announces new signatures, as Synapse does: a device
// signed by its user's self-signing key is a change of that device (an
// m.device_list_update carries its keys with the signature to other
// servers); the user's master key signed by a device is a change of the
// user's public keys; another user's master key signed by the caller
// concerns only the caller, whose devices see that user as changed.
func (s *Service) signaturesChanged(ctx context.Context, userID string, master *parsedKey, sigs []e2eestore.Signature) {
	var devices []string
	masterSigned := false
	others := map[string]bool{}
	for _, g := range sigs {
		switch {
		case g.TargetUser != userID:
			others[g.TargetUser] = true
		case master != nil && g.TargetKey == master.id:
			masterSigned = true
		case !slices.Contains(devices, g.TargetKey):
			devices = append(devices, g.TargetKey)
		}
	}
	if len(devices) > 0 {
		if err := s.NotifyKeysChanged(ctx, userID, devices...); err != nil {
			s.log.Warn("announcing signed devices", "user", userID, "err", err)
		}
	}
	if masterSigned {
		s.crossSigningChanged(ctx, userID, true)
	}
	for target := range others {
		if err := s.NotifyKeysChanged(ctx, target); err != nil {
			s.log.Warn("announcing a signed master key", "user", target, "err", err)
		}
	}
}

// selfSignatures checks signatures of the user's own keys.
func (s *Service) selfSignatures(ctx context.Context, userID string, own map[string]json.RawMessage, keys map[string]json.RawMessage, fail func(user, key string, f Failure)) ([]e2eestore.Signature, error) {
	master, err := storedKey(own, userID, e2eestore.UsageMaster)
	if err != nil {
		return nil, err
	}
	selfSigning, err := storedKey(own, userID, e2eestore.UsageSelfSigning)
	if err != nil {
		return nil, err
	}
	devices, err := s.localDeviceKeys(ctx, userID, nil)
	if err != nil {
		return nil, err
	}
	var out []e2eestore.Signature
	for keyID, raw := range keys {
		c, sigs, err := signedObject(raw, userID)
		if err != nil {
			fail(userID, keyID, failBadSignature)
			continue
		}
		if master != nil && keyID == master.id {
			got, f := masterSignedByDevices(userID, master, c, sigs, devices)
			if f != nil {
				fail(userID, keyID, *f)
				continue
			}
			out = append(out, got...)
			continue
		}
		if selfSigning == nil {
			fail(userID, keyID, failNoKey(e2eestore.UsageSelfSigning, userID))
			continue
		}
		signerKey := signing.AlgorithmEd25519 + ":" + selfSigning.id
		stored, ok := devices[keyID]
		switch {
		case sigs[signerKey] == "":
			fail(userID, keyID, failBadSignature)
		case !ok:
			fail(userID, keyID, failUnknownKey)
		case !sameKey(c, stored):
			fail(userID, keyID, failNoMatch)
		case signing.VerifyDeviceJSON(c, userID, selfSigning.id, selfSigning.pub) != nil:
			fail(userID, keyID, failBadSignature)
		default:
			out = append(out, e2eestore.Signature{TargetUser: userID, TargetKey: keyID, SignerUser: userID, SignerKey: signerKey, Signature: sigs[signerKey]})
		}
	}
	return out, nil
}

// masterSignedByDevices checks the signatures of the user's master key by
// the user's devices. Signatures already on the stored key (the master
// key's own) are left alone.
func masterSignedByDevices(userID string, master *parsedKey, c json.RawMessage, sigs map[string]string, devices map[string]json.RawMessage) ([]e2eestore.Signature, *Failure) {
	if !sameKey(c, master.canonical) {
		return nil, &failNoMatch
	}
	_, storedSigs, err := signedObject(master.canonical, userID)
	if err != nil {
		storedSigs = nil
	}
	var out []e2eestore.Signature
	for signerKey, sig := range sigs {
		if storedSigs[signerKey] == sig || signerKey == signing.AlgorithmEd25519+":"+master.id {
			continue
		}
		deviceID, ok := strings.CutPrefix(signerKey, signing.AlgorithmEd25519+":")
		pub, known := deviceKey(devices[deviceID], signerKey)
		if !ok || !known || signing.VerifyDeviceJSON(c, userID, deviceID, pub) != nil {
			return nil, &failBadSignature
		}
		out = append(out, e2eestore.Signature{TargetUser: userID, TargetKey: master.id, SignerUser: userID, SignerKey: signerKey, Signature: sig})
	}
	return out, nil
}

// otherUserSignatures checks signatures of another user's master key by
// the caller's user-signing key.
func (s *Service) otherUserSignatures(ctx context.Context, userID string, own map[string]json.RawMessage, target string, keys map[string]json.RawMessage, fail func(user, key string, f Failure)) ([]e2eestore.Signature, error) {
	failAll := func(f Failure) {
		for keyID := range keys {
			fail(target, keyID, f)
		}
	}
	userSigning, err := storedKey(own, userID, e2eestore.UsageUserSigning)
	if err != nil {
		return nil, err
	}
	if userSigning == nil {
		failAll(failNoKey(e2eestore.UsageUserSigning, userID))
		return nil, nil
	}
	// Other servers' users' master keys are known when a local user
	// shares a room with them (m.signing_key_update, /user/devices).
	theirs, err := s.store.CrossSigningKeys(ctx, target)
	if err != nil {
		return nil, err
	}
	master, err := storedKey(theirs, target, e2eestore.UsageMaster)
	if err != nil {
		return nil, err
	}
	if master == nil {
		failAll(failNoKey(e2eestore.UsageMaster, target))
		return nil, nil
	}
	signerKey := signing.AlgorithmEd25519 + ":" + userSigning.id
	var out []e2eestore.Signature
	for keyID, raw := range keys {
		if keyID != master.id {
			fail(target, keyID, failUnknownKey)
			continue
		}
		c, sigs, err := signedObject(raw, userID)
		switch {
		case err != nil || sigs[signerKey] == "":
			fail(target, keyID, failBadSignature)
		case !sameKey(c, master.canonical):
			fail(target, keyID, failNoMatch)
		case signing.VerifyDeviceJSON(c, userID, userSigning.id, userSigning.pub) != nil:
			fail(target, keyID, failBadSignature)
		default:
			out = append(out, e2eestore.Signature{TargetUser: target, TargetKey: master.id, SignerUser: userID, SignerKey: signerKey, Signature: sigs[signerKey]})
		}
	}
	return out, nil
}

// signedObject canonicalizes a signed key and returns the signatures of
// signer on it; an error when it has none or is malformed.
func signedObject(raw json.RawMessage, signer string) (json.RawMessage, map[string]string, error) {
	if len(raw) > maxDeviceKeysJSON {
		return nil, nil, merr.TooLarge("signed key is too large")
	}
	c, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
	if err != nil {
		return nil, nil, err
	}
	var obj struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(c, &obj); err != nil {
		return nil, nil, err
	}
	sigs := obj.Signatures[signer]
	if len(sigs) == 0 {
		return nil, nil, fmt.Errorf("no signatures by %s", signer)
	}
	return c, sigs, nil
}

// sameKey reports whether a signed object is the stored key, apart from
// signatures and unsigned (which others add to).
func sameKey(signed, stored json.RawMessage) bool {
	a, err1 := canonicaljson.RemoveKeys(signed, "signatures", "unsigned")
	b, err2 := canonicaljson.RemoveKeys(stored, "signatures", "unsigned")
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// deviceKey returns the public key keyID of a device's keys.
func deviceKey(raw json.RawMessage, keyID string) (ed25519.PublicKey, bool) {
	if raw == nil {
		return nil, false
	}
	var dk deviceKeys
	if err := json.Unmarshal(raw, &dk); err != nil {
		return nil, false
	}
	pub, err := signing.DecodeBase64(dk.Keys[keyID])
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(pub), true
}

// addCrossSigning adds a local user's cross-signing keys to a query
// result, and merges into the master key the stored signatures requester
// may see: the user's own devices' and requester's (user-signing key), as
// Synapse shows them. (Devices' signatures are merged by localDeviceKeys.)
func (s *Service) addCrossSigning(ctx context.Context, requester, userID string, res *QueryResult) error {
	keys, err := s.store.CrossSigningKeys(ctx, userID)
	if err != nil {
		return err
	}
	signers := []string{userID}
	if requester != userID {
		signers = append(signers, requester)
	}
	sigs, err := s.store.SignaturesOf(ctx, userID, signers...)
	if err != nil {
		return err
	}
	if master, ok := keys[e2eestore.UsageMaster]; ok {
		k, err := storedKey(keys, userID, e2eestore.UsageMaster)
		if err != nil {
			return err
		}
		var extra []e2eestore.Signature
		for _, g := range sigs {
			if g.TargetKey == k.id {
				extra = append(extra, g)
			}
		}
		if res.MasterKeys[userID], err = mergeSignatures(master, extra); err != nil {
			return err
		}
	}
	if ssk, ok := keys[e2eestore.UsageSelfSigning]; ok {
		res.SelfSigningKeys[userID] = ssk
	}
	// The user-signing key is only visible to its owner
	// (end_to_end_encryption.md "Cross-signing").
	if usk, ok := keys[e2eestore.UsageUserSigning]; ok && requester == userID {
		res.UserSigningKeys[userID] = usk
	}
	return nil
}

// mergeSignatures adds stored signatures to a key's "signatures".
func mergeSignatures(key json.RawMessage, extra []e2eestore.Signature) (json.RawMessage, error) {
	if len(extra) == 0 {
		return key, nil
	}
	var obj struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(key, &obj); err != nil {
		return nil, err
	}
	if obj.Signatures == nil {
		obj.Signatures = map[string]map[string]string{}
	}
	for _, g := range extra {
		if obj.Signatures[g.SignerUser] == nil {
			obj.Signatures[g.SignerUser] = map[string]string{}
		}
		obj.Signatures[g.SignerUser][g.SignerKey] = g.Signature
	}
	sigs, err := json.Marshal(obj.Signatures)
	if err != nil {
		return nil, err
	}
	return canonicaljson.Set(key, "signatures", sigs)
}

// mergeDeviceSignatures merges into a user's device keys the signatures
// the user made of them with their self-signing key, which everyone may
// see.
func (s *Service) mergeDeviceSignatures(ctx context.Context, userID string, devices map[string]json.RawMessage) error {
	sigs, err := s.store.SignaturesOf(ctx, userID, userID)
	if err != nil {
		return err
	}
	byDevice := map[string][]e2eestore.Signature{}
	for _, g := range sigs {
		if _, ok := devices[g.TargetKey]; ok {
			byDevice[g.TargetKey] = append(byDevice[g.TargetKey], g)
		}
	}
	for deviceID, extra := range byDevice {
		if devices[deviceID], err = mergeSignatures(devices[deviceID], extra); err != nil {
			return err
		}
	}
	return nil
}
