// Package policyserver is the homeserver's side of Policy Servers (spec
// v1.18, MSC4284): reading a room's m.room.policy state event, deciding
// which events need the Policy Server's signature, checking that signature
// and reading the Policy Server's answer to POST /_matrix/policy/v1/sign.
// It has no HTTP, SQL or clock: the room engine asks the questions, the
// federation client carries the request.
//
// Spec: client-server-api "Policy Servers" and server-server-api "Policy
// Servers" ("Determining if a Policy Server is enabled in a room",
// "Validating Policy Server signatures", "Asking for a Policy Server
// signature on an event").
package policyserver

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/signing"
)

// EventType is the state event that designates a room's Policy Server.
const EventType = "m.room.policy"

// KeyID is the key ID of every Policy Server signature: the spec fixes it
// ("The Key ID for the ed25519 key in m.room.policy is always
// ed25519:policy_server").
const KeyID signing.KeyID = "ed25519:policy_server"

// SignPath is the Policy Server's endpoint that signs an event
// (server-server-api, POST /_matrix/policy/v1/sign).
const SignPath = "/_matrix/policy/v1/sign"

// MaxResponseBytes bounds the answer to SignPath: one server's signature
// under one key is well under a kilobyte.
const MaxResponseBytes = 64 << 10

// Errors of Verify and ParseSignResponse.
var (
	// ErrNoSignature: the event carries no signature from the Policy
	// Server under KeyID, or the answer to SignPath holds none.
	ErrNoSignature = errors.New("policyserver: no Policy Server signature")
	// ErrBadSignature: the signature does not verify with the key in
	// m.room.policy (or that key is not a usable ed25519 key).
	ErrBadSignature = errors.New("policyserver: invalid Policy Server signature")
	// ErrBadResponse: the answer to SignPath is not the spec's shape.
	ErrBadResponse = errors.New("policyserver: invalid answer to /sign")
)

// Config is a room's Policy Server as its m.room.policy content names it.
type Config struct {
	// Via is the Policy Server's server name.
	Via string
	// PublicKey is the ed25519 public key its signatures verify with; nil
	// when content.public_keys.ed25519 is a string that is not an
	// unpadded base64 ed25519 key, in which case no signature verifies.
	PublicKey ed25519.PublicKey
}

// ParseContent reads the content of an m.room.policy state event. It
// reports false when the content does not designate a Policy Server: the
// spec's validity is "a string value for via" and "an object value for
// public_keys containing at least a string value for ed25519". A via that
// is not a server name is treated as no Policy Server too (as Synapse
// does): no user of it can be joined, so the room cannot be using it.
func ParseContent(content []byte) (Config, bool) {
	var c struct {
		Via        any `json:"via"`
		PublicKeys any `json:"public_keys"`
	}
	if json.Unmarshal(content, &c) != nil {
		return Config{}, false
	}
	via, ok := c.Via.(string)
	if !ok || !ids.ValidServerName(via) {
		return Config{}, false
	}
	keys, ok := c.PublicKeys.(map[string]any)
	if !ok {
		return Config{}, false
	}
	b64, ok := keys["ed25519"].(string)
	if !ok {
		return Config{}, false
	}
	cfg := Config{Via: via}
	// The spec's example key is in the URL-safe alphabet; DecodeBase64
	// takes both, as the appendix asks decoders to.
	if raw, err := signing.DecodeBase64(b64); err == nil && len(raw) == ed25519.PublicKeySize {
		cfg.PublicKey = ed25519.PublicKey(raw)
	}
	return cfg, true
}

// Enabled reports whether a room is using a Policy Server and which:
// policy is the m.room.policy event with empty state key of the room's
// current state (nil if none), and hasJoined tells whether a server has at
// least one joined user in the current state. Both conditions are the
// spec's ("Determining if a Policy Server is enabled in a room").
func Enabled(policy *event.Event, hasJoined func(server string) bool) (Config, bool) {
	if policy == nil || policy.Type() != EventType {
		return Config{}, false
	}
	if !policy.StateKeyEquals("") {
		return Config{}, false
	}
	cfg, ok := ParseContent(policy.Content())
	if !ok || !hasJoined(cfg.Via) {
		return Config{}, false
	}
	return cfg, true
}

// NeedsSignature reports whether ev must carry the Policy Server's
// signature in a room using one: every event except the m.room.policy
// state event with an empty state key, which is never sent to the Policy
// Server so that a room can always replace or empty it. Membership, power
// levels, non-state m.room.policy events and m.room.policy with another
// state key all need it.
func NeedsSignature(ev *event.Event) bool {
	if ev.Type() != EventType {
		return true
	}
	return !ev.StateKeyEquals("")
}

// Verify checks that ev carries a valid signature of cfg's Policy Server:
// signatures[via]["ed25519:policy_server"] over the redacted event, with
// the key from m.room.policy (the Policy Server's published server keys
// play no part). Other signatures, the origin's among them, are not
// looked at.
func Verify(ev *event.Event, cfg Config) error {
	sigs := ev.Signatures()
	if _, ok := sigs[cfg.Via][KeyID]; !ok {
		return fmt.Errorf("%w from %s", ErrNoSignature, cfg.Via)
	}
	if cfg.PublicKey == nil {
		return fmt.Errorf("%w: m.room.policy holds no usable ed25519 key", ErrBadSignature)
	}
	if err := signing.VerifyJSON(ev.Redacted().JSON(), cfg.Via, KeyID, cfg.PublicKey); err != nil {
		return fmt.Errorf("%w from %s: %v", ErrBadSignature, cfg.Via, err)
	}
	return nil
}

// ParseSignResponse reads a 200 answer to SignPath from the Policy Server
// via and returns its signature: the body is {via: {"ed25519:policy_server":
// sig}}. Only that one signature is taken; anything else in the answer
// (signatures of other servers or keys) is ignored, so an answer cannot
// replace the origin's signatures.
func ParseSignResponse(body []byte, via string) (string, error) {
	if len(body) > MaxResponseBytes {
		return "", fmt.Errorf("%w: %d bytes", ErrBadResponse, len(body))
	}
	if err := canonicaljson.Valid(body, canonicaljson.LenientOptions); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil || resp == nil {
		return "", fmt.Errorf("%w: not a JSON object", ErrBadResponse)
	}
	raw, ok := resp[via]
	if !ok {
		return "", fmt.Errorf("%w in the answer of %s", ErrNoSignature, via)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		return "", fmt.Errorf("%w: %s is not an object", ErrBadResponse, via)
	}
	rawSig, ok := keys[string(KeyID)]
	if !ok {
		return "", fmt.Errorf("%w under %s in the answer of %s", ErrNoSignature, KeyID, via)
	}
	var sig string
	if err := json.Unmarshal(rawSig, &sig); err != nil {
		return "", fmt.Errorf("%w: the signature is not a string", ErrBadResponse)
	}
	if _, err := signing.DecodeBase64(sig); err != nil || len(sig) > 128 {
		return "", fmt.Errorf("%w: the signature is not unpadded base64 of a signature", ErrBadResponse)
	}
	return sig, nil
}

// AddSignature returns ev with the Policy Server's signature sig added and
// checked: the origin's and any other signatures are kept, including those
// of the origin when it shares the Policy Server's name (v1.19
// clarification of "Asking for a Policy Server signature on an event").
func AddSignature(ev *event.Event, cfg Config, sig string) (*event.Event, error) {
	signed, err := ev.WithSignature(cfg.Via, KeyID, sig)
	if err != nil {
		return nil, err
	}
	if err := Verify(signed, cfg); err != nil {
		return nil, err
	}
	return signed, nil
}
