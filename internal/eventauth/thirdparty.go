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
	if signedByAnyKey(signed, publicKeys(invite.Content())) {
		return nil
	}
	return reject(rule("8"), "no signature in signed matches the invite's public keys")
}

// publicKeys collects content.public_key and content.public_keys[].public_key
// of an m.room.third_party_invite event. Keys are unpadded base64, standard
// or URL-safe (client-server-api m.room.third_party_invite); undecodable
// keys are skipped.
func publicKeys(content json.RawMessage) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	add := func(s string) {
		if b, err := signing.DecodeBase64(s); err == nil && len(b) == ed25519.PublicKeySize {
			out = append(out, ed25519.PublicKey(b))
		}
	}
	if s, ok := contentString(content, "public_key"); ok {
		add(s)
	}
	if raw, err := contentGet(content, "public_keys"); err == nil {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil {
			for _, item := range list {
				if len(item) > 0 && item[0] == '{' {
					if s, ok := contentString(item, "public_key"); ok {
						add(s)
					}
				}
			}
		}
	}
	return out
}

// signedByAnyKey reports whether any ed25519 signature in signed.signatures
// (under any entity and key ID) verifies with any of keys.
func signedByAnyKey(signed json.RawMessage, keys []ed25519.PublicKey) bool {
	if len(keys) == 0 {
		return false
	}
	sigs, err := signing.Signatures(signed)
	if err != nil {
		return false
	}
	for entity, byKey := range sigs {
		for keyID := range byKey {
			if keyID.Algorithm() != signing.AlgorithmEd25519 {
				continue
			}
			for _, k := range keys {
				if signing.VerifyJSON(signed, entity, keyID, k) == nil {
					return true
				}
			}
		}
	}
	return false
}
