package eventauth

import (
	"crypto/ed25519"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// checkThirdPartyInvite is rule 5.4.1 (v12 numbering): an invite that
// completes a third-party invite is allowed on the strength of the identity
// server's signature, without the sender having to be joined.
func checkThirdPartyInvite(ev *event.Event, v *roomversion.Version, state StateLookup, target, current string) error {
	rule := func(n string) string { return ruleNo(v, "member", "invite", "thirdparty", n) }
	if current == event.Ban {
		return reject(rule("1"), "%s is banned", target)
	}
	tpi, _ := contentGet(ev.Content(), "third_party_invite")
	signed, err := contentGet(tpi, "signed")
	if err != nil || len(signed) == 0 || signed[0] != '{' {
		return reject(rule("2"), "third_party_invite has no signed object")
	}
	mxid, okMXID := contentString(signed, "mxid")
	token, okToken := contentString(signed, "token")
	if !okMXID || !okToken {
		return reject(rule("3"), "signed needs mxid and token strings")
	}
	if mxid != target {
		return reject(rule("4"), "signed.mxid %s is not the state_key %s", mxid, target)
	}
	invite := state.Get(event.TypeThirdPartyInvite, token)
	if invite == nil {
		return reject(rule("5"), "no m.room.third_party_invite with token %q", token)
	}
	if invite.Sender() != ev.Sender() {
		return reject(rule("6"), "sender %s did not send the third-party invite (%s did)", ev.Sender(), invite.Sender())
	}
	if _, ok := ThirdPartySigner(signed, ThirdPartyInviteKeys(invite.Content())); ok {
		return nil
	}
	return reject(rule("8"), "no signature in signed matches the invite's public keys")
}

// ThirdPartyKey is one public key of an m.room.third_party_invite event,
// with the URL that tells whether it is still valid ("" when none is given:
// then it is valid indefinitely).
type ThirdPartyKey struct {
	Key         ed25519.PublicKey
	Encoded     string // as the event wrote it
	ValidityURL string
}

// ThirdPartyInviteKeys collects content.public_key (with
// content.key_validity_url) and content.public_keys[] of an
// m.room.third_party_invite event. Keys are unpadded base64, standard or
// URL-safe (client-server-api m.room.third_party_invite); undecodable keys
// are skipped.
func ThirdPartyInviteKeys(content json.RawMessage) []ThirdPartyKey {
	var out []ThirdPartyKey
	add := func(obj json.RawMessage) {
		s, ok := contentString(obj, "public_key")
		if !ok {
			return
		}
		if b, err := signing.DecodeBase64(s); err == nil && len(b) == ed25519.PublicKeySize {
			u, _ := contentString(obj, "key_validity_url")
			out = append(out, ThirdPartyKey{Key: ed25519.PublicKey(b), Encoded: s, ValidityURL: u})
		}
	}
	add(content)
	if raw, err := contentGet(content, "public_keys"); err == nil {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			for _, item := range list {
				if len(item) > 0 && item[0] == '{' {
					add(item)
				}
			}
		}
	}
	return out
}

// ThirdPartySigner returns the first of keys with which an ed25519
// signature in signed.signatures (under any entity and key ID) verifies.
func ThirdPartySigner(signed json.RawMessage, keys []ThirdPartyKey) (ThirdPartyKey, bool) {
	if len(keys) == 0 {
		return ThirdPartyKey{}, false
	}
	sigs, err := signing.Signatures(signed)
	if err != nil {
		return ThirdPartyKey{}, false
	}
	for _, k := range keys {
		for entity, byKey := range sigs {
			for keyID := range byKey {
				if keyID.Algorithm() == signing.AlgorithmEd25519 && signing.VerifyJSON(signed, entity, keyID, k.Key) == nil {
					return k, true
				}
			}
		}
	}
	return ThirdPartyKey{}, false
}
