package eventauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Third-party invites: rule 5.4.1 (v12 numbering; 4.4.1 in v8–v11, 4.3.1 in
// v6–v7, 5.3.1 in v1–v5), and server-server-api.md "Third-party invites".

// The identity server's keys: idKey signs; otherKey is a key it does not use.
var (
	idKey    = signing.SigningKey{ID: "ed25519:0", Private: ed25519.NewKeyFromSeed([]byte("identity server key seed 32bytes"))}
	otherKey = signing.SigningKey{ID: "ed25519:0", Private: ed25519.NewKeyFromSeed([]byte("another key, not the one in use!"))}
)

// tpiRoom is a room where alice has sent an m.room.third_party_invite with
// token "tok" whose content lists publicKeys (raw JSON members).
func tpiRoom(t *testing.T, v *roomversion.Version, keys string) *room {
	t.Helper()
	r := newRoom(t, v, "")
	r.join(bob)
	r.mustSend(r.stateEvent(alice, event.TypeThirdPartyInvite, "tok",
		`{"display_name":"d...@example.org","key_validity_url":"https://id.test/_matrix/identity/v2/pubkey/isvalid",`+keys+`}`))
	return r
}

// signedBlock returns the `signed` object for mxid and token, signed by key
// as the identity server "id.test".
func signedBlock(t *testing.T, mxid, token string, key signing.SigningKey) string {
	t.Helper()
	s, err := signing.SignJSON([]byte(`{"mxid":"`+mxid+`","token":"`+token+`"}`), "id.test", key)
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

func tpiMember(r *room, sender, target, tpi string) *event.Event {
	r.t.Helper()
	return r.member(sender, target, event.Invite, `"third_party_invite":`+tpi)
}

func TestAuth_Member_ThirdPartyInvite(t *testing.T) {
	pub := idKey.Public()
	std := base64.RawStdEncoding.EncodeToString(pub)
	url := base64.RawURLEncoding.EncodeToString(pub)
	rule := func(v *roomversion.Version, n string) string {
		return ruleNo(v, "member", "invite", "thirdparty", n)
	}
	versions(t, all, func(t *testing.T, v *roomversion.Version) {
		good := `{"display_name":"d","signed":` + signedBlock(t, dave, "tok", idKey) + `}`

		t.Run("public_key, standard base64", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			allow(t, r, tpiMember(r, alice, dave, good))
		})
		t.Run("public_keys, URL-safe base64", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+base64.RawStdEncoding.EncodeToString(otherKey.Public())+`",`+
				`"public_keys":[{"public_key":"junk"},{"key_validity_url":"x","public_key":"`+url+`"}]`)
			allow(t, r, tpiMember(r, alice, dave, good))
		})
		t.Run("wrong key rejected", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			bad := `{"signed":` + signedBlock(t, dave, "tok", otherKey) + `}`
			deny(t, r, tpiMember(r, alice, dave, bad), rule(v, "8"))
		})
		t.Run("tampered signed block rejected", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			// The signature was made for dave; the block now names carol.
			block, err := canonicaljson.Set([]byte(signedBlock(t, dave, "tok", idKey)), "mxid", []byte(`"`+carol+`"`))
			if err != nil {
				t.Fatal(err)
			}
			forged := `{"signed":` + string(block) + `}`
			deny(t, r, tpiMember(r, alice, carol, forged), rule(v, "8"))
		})
		t.Run("mxid must match state_key", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			deny(t, r, tpiMember(r, alice, carol, good), rule(v, "4"))
		})
		t.Run("missing third_party_invite event rejected", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			other := `{"signed":` + signedBlock(t, dave, "other-token", idKey) + `}`
			deny(t, r, tpiMember(r, alice, dave, other), rule(v, "5"))
		})
		t.Run("sender must have sent the third_party_invite", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			deny(t, r, tpiMember(r, bob, dave, good), rule(v, "6"))
		})
		t.Run("banned target rejected", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			r.mustSend(r.member(alice, dave, event.Ban, ""))
			deny(t, r, tpiMember(r, alice, dave, good), rule(v, "1"))
		})
		t.Run("signed, mxid and token are required", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"`+std+`"`)
			deny(t, r, tpiMember(r, alice, dave, `{"display_name":"d"}`), rule(v, "2"))
			deny(t, r, tpiMember(r, alice, dave, `{"signed":"x"}`), rule(v, "2"))
			deny(t, r, tpiMember(r, alice, dave, `{"signed":{"mxid":"`+dave+`"}}`), rule(v, "3"))
			deny(t, r, tpiMember(r, alice, dave, `{"signed":{"token":"tok"}}`), rule(v, "3"))
		})
		t.Run("no usable public key rejected", func(t *testing.T) {
			r := tpiRoom(t, v, `"public_key":"not base64!"`)
			deny(t, r, tpiMember(r, alice, dave, good), rule(v, "8"))
		})
	})
}
