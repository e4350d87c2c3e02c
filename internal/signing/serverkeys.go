package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// MaxKeyValidityMS caps how long a fetched key response is trusted for event
// signatures in room versions 5+: "Servers MUST use the lesser of
// valid_until_ts and 7 days into the future when determining if a key is
// valid" (rooms/fragments/v5-signing-requirements; server-server API,
// GET /_matrix/key/v2/server, valid_until_ts).
const MaxKeyValidityMS = 7 * 24 * 60 * 60 * 1000

// ErrBadServerKeys is wrapped when a key response is malformed or not
// correctly self-signed.
var ErrBadServerKeys = errors.New("signing: invalid server keys")

// Base64Bytes is binary data carried in JSON as unpadded Base64 (spec:
// appendices, "Binary data"). It decodes padded or unpadded, standard or
// URL-safe input.
type Base64Bytes []byte

// MarshalJSON encodes b as an unpadded standard Base64 string.
func (b Base64Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(EncodeBase64(b))
}

// UnmarshalJSON decodes a Base64 string.
func (b *Base64Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	d, err := DecodeBase64(s)
	if err != nil {
		return err
	}
	*b = d
	return nil
}

// VerifyKey is a current key in a server key response.
type VerifyKey struct {
	Key Base64Bytes `json:"key"`
}

// OldVerifyKey is a key the server used to use, valid for event signatures
// made before ExpiredTS.
type OldVerifyKey struct {
	Key       Base64Bytes `json:"key"`
	ExpiredTS int64       `json:"expired_ts"`
}

// ServerKeys mirrors the body of GET /_matrix/key/v2/server (server-server
// API, "Publishing Keys"). Only ed25519 keys with well-formed IDs and
// 32-byte keys are kept; others are dropped as keys this server cannot use.
type ServerKeys struct {
	ServerName    string                      `json:"server_name"`
	VerifyKeys    map[KeyID]VerifyKey         `json:"verify_keys"`
	OldVerifyKeys map[KeyID]OldVerifyKey      `json:"old_verify_keys,omitempty"`
	ValidUntilTS  int64                       `json:"valid_until_ts"`
	Signatures    map[string]map[KeyID]string `json:"signatures"`

	// Raw is the canonical form of the response as parsed, including
	// members this struct does not model. Notaries re-serve it (adding
	// their own signature with SignJSON) and caches store it.
	Raw []byte `json:"-"`

	// FetchedTS is when the response was fetched (ms since the epoch). It
	// anchors the 7-day cap on ValidUntilTS; see EffectiveValidUntil. It is
	// not part of the wire format, so callers that store responses must
	// store it too. Zero means unknown, and then no cap is applied.
	FetchedTS int64 `json:"-"`
}

// ParseServerKeys parses a server key response, checks its shape, and checks
// that it is signed by its own server_name with every one of its (usable)
// verify_keys. At least one ed25519 verify key is required. Signatures by
// keys the response does not list are ignored, as they cannot be checked.
func ParseServerKeys(data []byte) (*ServerKeys, error) {
	c, err := canonicaljson.Canonicalize(data, canonicaljson.LenientOptions)
	if err != nil {
		return nil, err
	}
	if c[0] != '{' {
		return nil, fmt.Errorf("%w: not an object", ErrBadServerKeys)
	}
	k := &ServerKeys{Raw: c}

	// Members are read by exact name with canonicaljson.Get rather than
	// into a tagged struct: encoding/json matches field names case-
	// insensitively, so "Server_Name" would otherwise stand in for
	// "server_name".
	if err := getJSON(c, &k.ServerName, "server_name"); err != nil {
		return nil, err
	}
	if k.ServerName == "" {
		return nil, fmt.Errorf("%w: empty server_name", ErrBadServerKeys)
	}
	if err := getJSON(c, &k.ValidUntilTS, "valid_until_ts"); err != nil {
		return nil, err
	}

	var verify map[string]json.RawMessage
	if err := getJSON(c, &verify, "verify_keys"); err != nil {
		return nil, err
	}
	k.VerifyKeys = make(map[KeyID]VerifyKey, len(verify))
	for id, raw := range verify {
		key, ok, err := parseKeyEntry(id, raw)
		if err != nil {
			return nil, err
		}
		if ok {
			k.VerifyKeys[KeyID(id)] = VerifyKey{Key: key}
		}
	}
	if len(k.VerifyKeys) == 0 {
		return nil, fmt.Errorf("%w: no usable ed25519 verify_keys", ErrBadServerKeys)
	}

	var old map[string]json.RawMessage
	if err := getJSON(c, &old, "old_verify_keys"); err != nil && !errors.Is(err, canonicaljson.ErrNotFound) {
		return nil, err
	}
	if len(old) > 0 {
		k.OldVerifyKeys = make(map[KeyID]OldVerifyKey, len(old))
	}
	for id, raw := range old {
		key, ok, err := parseKeyEntry(id, raw)
		if err != nil {
			return nil, err
		}
		var ts int64
		if err := getJSON(raw, &ts, "expired_ts"); err != nil {
			return nil, fmt.Errorf("%w: old_verify_keys[%q]: %v", ErrBadServerKeys, id, err)
		}
		if ok {
			k.OldVerifyKeys[KeyID(id)] = OldVerifyKey{Key: key, ExpiredTS: ts}
		}
	}

	if k.Signatures, err = signaturesOf(c); err != nil {
		return nil, err
	}
	for id, vk := range k.VerifyKeys {
		if err := VerifyJSON(c, k.ServerName, id, ed25519.PublicKey(vk.Key)); err != nil {
			return nil, fmt.Errorf("%w: not self-signed with %s: %w", ErrBadServerKeys, id, err)
		}
	}
	return k, nil
}

// getJSON decodes the member at path of the canonical object c into v,
// requiring it to be present and of the right JSON type.
func getJSON(c []byte, v any, path ...string) error {
	raw, err := canonicaljson.Get(c, path...)
	if err != nil {
		if errors.Is(err, canonicaljson.ErrNotFound) {
			return fmt.Errorf("%w: missing %v: %w", ErrBadServerKeys, path, err)
		}
		return fmt.Errorf("%w: %w", ErrBadServerKeys, err)
	}
	if string(raw) == "null" {
		return fmt.Errorf("%w: %v is null", ErrBadServerKeys, path)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v: %v", ErrBadServerKeys, path, err)
	}
	return nil
}

// parseKeyEntry reads {"key": "<base64>"} for key ID id. ok is false for
// keys this server cannot use (other algorithms, malformed IDs): those are
// skipped, not fatal, so one odd key does not make a server unreachable.
func parseKeyEntry(id string, raw []byte) (key Base64Bytes, ok bool, err error) {
	var s string
	if err := getJSON(raw, &s, "key"); err != nil {
		return nil, false, fmt.Errorf("%w (key %q)", err, id)
	}
	alg, _, err := ParseKeyID(id)
	if err != nil || alg != AlgorithmEd25519 {
		return nil, false, nil
	}
	b, err := DecodeBase64(s)
	if err != nil {
		return nil, false, fmt.Errorf("%w: key %q: %w", ErrBadServerKeys, id, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, false, fmt.Errorf("%w: key %q is %d bytes", ErrBadServerKeys, id, len(b))
	}
	return b, true, nil
}

// EffectiveValidUntil is the valid_until_ts to enforce for room versions 5+:
// the lesser of ValidUntilTS and FetchedTS + 7 days, or ValidUntilTS alone
// when FetchedTS is unknown. The cap stops a stolen key that was published
// with a far-future valid_until_ts from being trusted long after its owner
// replaces it (rooms/fragments/v5-signing-requirements).
func (k *ServerKeys) EffectiveValidUntil() int64 {
	if k.FetchedTS != 0 && k.FetchedTS+MaxKeyValidityMS < k.ValidUntilTS {
		return k.FetchedTS + MaxKeyValidityMS
	}
	return k.ValidUntilTS
}

// KeyValidAt returns the public key id for checking a signature made at ts
// (an event's origin_server_ts).
//
// With enforceValidity (room versions 5+), a current key is valid while
// ts <= EffectiveValidUntil() and an old key while ts <= its expired_ts, so
// a key "known to have expired prior to the event's origin_server_ts" is
// ignored (server-server API, "Validating hashes and signatures on received
// events"). Without it (room versions 1–4, where valid_until_ts "MUST be
// ignored"), any listed key is returned; Synapse likewise ignores
// expired_ts there.
func (k *ServerKeys) KeyValidAt(id KeyID, ts int64, enforceValidity bool) (ed25519.PublicKey, bool) {
	if vk, ok := k.VerifyKeys[id]; ok && len(vk.Key) == ed25519.PublicKeySize {
		if !enforceValidity || ts <= k.EffectiveValidUntil() {
			return ed25519.PublicKey(vk.Key), true
		}
		return nil, false
	}
	if ok, found := k.OldVerifyKeys[id]; found && len(ok.Key) == ed25519.PublicKeySize {
		if !enforceValidity || ts <= ok.ExpiredTS {
			return ed25519.PublicKey(ok.Key), true
		}
	}
	return nil, false
}

// BuildServerKeys builds and signs this server's key response for
// GET /_matrix/key/v2/server: every key in current is published in
// verify_keys and signs the response; old lists retired keys. The result is
// canonical JSON.
func BuildServerKeys(serverName string, current []SigningKey, old map[KeyID]OldVerifyKey, validUntilTS int64) ([]byte, error) {
	if serverName == "" {
		return nil, fmt.Errorf("%w: empty server name", ErrBadServerKeys)
	}
	if len(current) == 0 {
		return nil, fmt.Errorf("%w: no signing keys", ErrBadServerKeys)
	}
	body := ServerKeys{
		ServerName:    serverName,
		VerifyKeys:    make(map[KeyID]VerifyKey, len(current)),
		OldVerifyKeys: old,
		ValidUntilTS:  validUntilTS,
		Signatures:    map[string]map[KeyID]string{},
	}
	for _, sk := range current {
		if _, _, err := ParseKeyID(string(sk.ID)); err != nil {
			return nil, err
		}
		pub := sk.Public()
		if pub == nil {
			return nil, fmt.Errorf("%w: %s has no private key", ErrInvalidKey, sk.ID)
		}
		body.VerifyKeys[sk.ID] = VerifyKey{Key: Base64Bytes(pub)}
	}
	for id, o := range old {
		if _, _, err := ParseKeyID(string(id)); err != nil {
			return nil, err
		}
		if len(o.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: old key %s is %d bytes", ErrInvalidKey, id, len(o.Key))
		}
	}
	out, err := canonicaljson.Marshal(body)
	if err != nil {
		return nil, err
	}
	// Sign in a fixed order so the output does not depend on slice order
	// beyond the keys themselves.
	sorted := append([]SigningKey(nil), current...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, sk := range sorted {
		if out, err = SignJSON(out, serverName, sk); err != nil {
			return nil, err
		}
	}
	return out, nil
}
