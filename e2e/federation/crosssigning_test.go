package fede2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/signing"
)

// fedCSKey is a cross-signing key pair of a test user.
type fedCSKey struct {
	priv ed25519.PrivateKey
	pub  string
}

func newFedCSKey(t testing.TB) fedCSKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return fedCSKey{priv: priv, pub: signing.EncodeBase64(pub)}
}

// signedKey is a CrossSigningKey object of usage for userID, signed by
// signer (as userID) unless signer is nil.
func (k fedCSKey) signedKey(t testing.TB, userID, usage string, signer *fedCSKey) map[string]any {
	obj := map[string]any{"user_id": userID, "usage": []string{usage}, "keys": map[string]any{"ed25519:" + k.pub: k.pub}}
	if signer == nil {
		return obj
	}
	return signAsKey(t, obj, userID, *signer)
}

// signAsKey adds userID's signature with the key to obj (which must carry
// no signatures of userID yet).
func signAsKey(t testing.TB, obj map[string]any, userID string, k fedCSKey) map[string]any {
	stripped := map[string]any{}
	for key, v := range obj {
		if key != "signatures" && key != "unsigned" {
			stripped[key] = v
		}
	}
	raw, err := canonicaljson.Marshal(stripped)
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	sigs[userID] = map[string]any{"ed25519:" + k.pub: signing.EncodeBase64(ed25519.Sign(k.priv, raw))}
	obj["signatures"] = sigs
	return obj
}

type csKeysQuery struct {
	MasterKeys      map[string]map[string]any `json:"master_keys"`
	SelfSigningKeys map[string]map[string]any `json:"self_signing_keys"`
}

func (c *client) crossSigningKeysOf(t testing.TB, userID string) csKeysQuery {
	var resp csKeysQuery
	c.must(t, "POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{userID: []string{}}}, &resp)
	return resp
}

func masterKeyID(q csKeysQuery, userID string) string {
	keys, _ := q.MasterKeys[userID]["keys"].(map[string]any)
	for id := range keys {
		return id
	}
	return ""
}

// server-server-api "m.signing_key_update" and "POST /user/keys/query":
// a user's master and self-signing keys reach users of other servers who
// share a room with them, a new master key as an m.signing_key_update that
// puts the user in their device_lists.changed, and such a user can sign
// the remote master key with their user-signing key.
func TestFederation_CrossSigningKeysAcrossServers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")
	roomID := alice.createRoom(t, map[string]any{"preset": "public_chat"})
	bob.join(t, roomID, hs1.name)
	newE2EDevice(t, bob).upload(t)

	master, ssk := newFedCSKey(t), newFedCSKey(t)
	bob.must(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", map[string]any{
		"master_key":       master.signedKey(t, bob.userID, "master", nil),
		"self_signing_key": ssk.signedKey(t, bob.userID, "self_signing", &master)}, nil)
	c.eventually(t, "alice sees bob's cross-signing keys", syncBound, func() string {
		q := alice.crossSigningKeysOf(t, bob.userID)
		if masterKeyID(q, bob.userID) != "ed25519:"+master.pub || q.SelfSigningKeys[bob.userID] == nil {
			return fmt.Sprintf("%+v", q)
		}
		return ""
	})

	// Alice signs bob's master key with her user-signing key.
	aliceMaster, aliceUSK := newFedCSKey(t), newFedCSKey(t)
	alice.must(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", map[string]any{
		"master_key":       aliceMaster.signedKey(t, alice.userID, "master", nil),
		"user_signing_key": aliceUSK.signedKey(t, alice.userID, "user_signing", &aliceMaster)}, nil)
	var failures struct {
		Failures map[string]json.RawMessage `json:"failures"`
	}
	alice.must(t, "POST", "/_matrix/client/v3/keys/signatures/upload", map[string]any{
		bob.userID: map[string]any{master.pub: signAsKey(t, master.signedKey(t, bob.userID, "master", nil), alice.userID, aliceUSK)}}, &failures)
	if len(failures.Failures) != 0 {
		t.Fatalf("signing bob's master key: %+v", failures.Failures)
	}

	// Bob replaces his master key (with his password): alice's server
	// hears of it and alice sees bob as changed, then the new key.
	_, since := alice.deviceListsSince(t, "", 0)
	newMaster := newFedCSKey(t)
	body := map[string]any{"master_key": newMaster.signedKey(t, bob.userID, "master", nil),
		"self_signing_key": ssk.signedKey(t, bob.userID, "self_signing", &newMaster),
		"auth": map[string]any{"type": "m.login.password", "password": password,
			"identifier": map[string]any{"type": "m.id.user", "user": bob.userID}}}
	bob.must(t, "POST", "/_matrix/client/v3/keys/device_signing/upload", body, nil)
	c.eventually(t, "alice sees bob changed", syncBound, func() string {
		changed, next := alice.deviceListsSince(t, since, time.Second)
		since = next
		if !contains(changed, bob.userID) {
			return fmt.Sprintf("changed %v", changed)
		}
		return ""
	})
	if got := masterKeyID(alice.crossSigningKeysOf(t, bob.userID), bob.userID); got != "ed25519:"+newMaster.pub {
		t.Fatalf("alice's view of bob's master key: %s", got)
	}
}
