package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

var (
	// ErrNotObject is wrapped when the JSON to sign or verify is not an
	// object, or "signatures" does not have the shape
	// {entity: {keyID: "base64"}}.
	ErrNotObject = errors.New("signing: not a JSON object of the expected shape")
	// ErrNoSignature is wrapped when signatures[entity][keyID] is absent.
	ErrNoSignature = errors.New("signing: signature missing")
	// ErrBadSignature is wrapped when a signature does not verify.
	ErrBadSignature = errors.New("signing: signature does not verify")
)

// Objects are canonicalized leniently: signing and verification must work on
// events from room versions 1–5, whose numbers need not follow the strict
// rules. Room-version strictness is the event layer's job, before this.
var signOpts = canonicaljson.LenientOptions

// SignJSON signs a JSON object on behalf of entity (a server name) and returns
// the object, in canonical form, with signatures[entity][key.ID] added next to
// any signatures already present. "signatures" and "unsigned" are not covered
// by the signature, and "unsigned" is kept as it was (spec: appendices,
// "Signing Details").
func SignJSON(object []byte, entity string, key SigningKey) ([]byte, error) {
	if len(key.Private) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes", ErrInvalidKey, len(key.Private))
	}
	if _, _, err := ParseKeyID(string(key.ID)); err != nil {
		return nil, err
	}
	if entity == "" {
		return nil, fmt.Errorf("%w: empty entity name", ErrNotObject)
	}
	if !utf8.ValidString(entity) {
		// It would be written as U+FFFD and never match again.
		return nil, fmt.Errorf("%w: entity name", canonicaljson.ErrInvalidUTF8)
	}
	c, err := canonicalObject(object)
	if err != nil {
		return nil, err
	}
	sigs, err := signaturesOf(c)
	if err != nil {
		return nil, err
	}
	stripped, err := canonicaljson.RemoveKeys(c, "signatures", "unsigned")
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key.Private, stripped)
	if sigs[entity] == nil {
		sigs[entity] = map[KeyID]string{}
	}
	sigs[entity][key.ID] = EncodeBase64(sig)
	encoded, err := canonicaljson.Marshal(sigs)
	if err != nil {
		return nil, err
	}
	return canonicaljson.Set(c, "signatures", encoded)
}

// VerifyJSON checks the signature signatures[entity][keyID] on object against
// pub, following the spec's "Checking for a Signature" (appendices): the
// signature is base64-decoded, "signatures" and "unsigned" are removed, the
// rest is canonicalized and checked with ed25519.
func VerifyJSON(object []byte, entity string, keyID KeyID, pub ed25519.PublicKey) error {
	alg, _, err := ParseKeyID(string(keyID))
	if err != nil {
		return err
	}
	if alg != AlgorithmEd25519 {
		return fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidKeyID, alg)
	}
	return verifyJSON(object, entity, keyID, pub)
}

// verifyJSON is VerifyJSON after the key ID's checks.
func verifyJSON(object []byte, entity string, keyID KeyID, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		// ed25519.Verify panics on a wrong-sized key.
		return fmt.Errorf("%w: public key is %d bytes", ErrInvalidKey, len(pub))
	}
	c, err := canonicalObject(object)
	if err != nil {
		return err
	}
	raw, err := canonicaljson.Get(c, "signatures", entity, string(keyID))
	if err != nil {
		if errors.Is(err, canonicaljson.ErrNotFound) {
			return fmt.Errorf("%w: no %s signature from %q", ErrNoSignature, keyID, entity)
		}
		return err
	}
	var sigB64 string
	if err := json.Unmarshal(raw, &sigB64); err != nil {
		return fmt.Errorf("%w: signature is not a string", ErrNotObject)
	}
	sig, err := DecodeBase64(sigB64)
	if err != nil {
		return err
	}
	stripped, err := canonicaljson.RemoveKeys(c, "signatures", "unsigned")
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, stripped, sig) {
		return fmt.Errorf("%w: %s from %q", ErrBadSignature, keyID, entity)
	}
	return nil
}

// Signatures returns the signatures present in object as
// entity → key ID → base64 signature. An object without "signatures" yields
// an empty map.
func Signatures(object []byte) (map[string]map[KeyID]string, error) {
	c, err := canonicalObject(object)
	if err != nil {
		return nil, err
	}
	return signaturesOf(c)
}

// canonicalObject canonicalizes untrusted input that must be an object.
func canonicalObject(object []byte) ([]byte, error) {
	c, err := canonicaljson.Canonicalize(object, signOpts)
	if err != nil {
		return nil, err
	}
	if c[0] != '{' {
		return nil, fmt.Errorf("%w: top-level value is not an object", ErrNotObject)
	}
	return c, nil
}

// signaturesOf decodes the "signatures" member of a canonical object. The
// object has been through canonicaljson, so it has no duplicate keys and
// encoding/json's map decoding sees exactly what we validated.
func signaturesOf(c []byte) (map[string]map[KeyID]string, error) {
	sigs := map[string]map[KeyID]string{}
	raw, err := canonicaljson.Get(c, "signatures")
	if errors.Is(err, canonicaljson.ErrNotFound) {
		return sigs, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &sigs); err != nil || sigs == nil {
		return nil, fmt.Errorf("%w: \"signatures\" must map entity to key ID to string", ErrNotObject)
	}
	for entity, m := range sigs {
		if m == nil {
			// {"signatures":{"a":null}} decodes to a nil inner map.
			return nil, fmt.Errorf("%w: signatures of %q are not an object", ErrNotObject, entity)
		}
	}
	return sigs, nil
}
