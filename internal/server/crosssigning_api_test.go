package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/signing"
)

// Cross-signing API tests (end_to_end_encryption.md "Cross-signing",
// cross_signing.yaml). Keys are real Ed25519 keys and signatures are made
// as the appendices' "Signing JSON" says.

const (
	deviceSigningUpload = "/_matrix/client/v3/keys/device_signing/upload"
	signaturesUpload    = "/_matrix/client/v3/keys/signatures/upload"
	testPassword        = "correct horse battery staple"
)

// csKey is a cross-signing key pair.
type csKey struct {
	priv ed25519.PrivateKey
	pub  string // unpadded base64
}

func newCSKey(t *testing.T) csKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return csKey{priv: priv, pub: signing.EncodeBase64(pub)}
}

func (k csKey) id() string { return "ed25519:" + k.pub }

// object is the key's CrossSigningKey object, unsigned.
func (k csKey) object(userID, usage string) m {
	return m{"user_id": userID, "usage": []string{usage}, "keys": m{k.id(): k.pub}}
}

// signWith adds userID's signature with keyID to obj, keeping the
// signatures already on it.
func signWith(t *testing.T, obj m, userID, keyID string, priv ed25519.PrivateKey) m {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	stripped, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
	if err != nil {
		t.Fatal(err)
	}
	if stripped, err = canonicaljson.RemoveKeys(stripped, "signatures", "unsigned"); err != nil {
		t.Fatal(err)
	}
	out := m{}
	for k, v := range obj {
		out[k] = v
	}
	sigs := m{}
	if old, ok := obj["signatures"].(map[string]any); ok {
		for u, s := range old {
			copied := m{}
			for k, v := range s.(map[string]any) {
				copied[k] = v
			}
			sigs[u] = copied
		}
	}
	if sigs[userID] == nil {
		sigs[userID] = m{}
	}
	sigs[userID].(map[string]any)[keyID] = signing.EncodeBase64(ed25519.Sign(priv, stripped))
	out["signatures"] = sigs
	return out
}

// crossSigning is a user's three cross-signing keys.
type crossSigning struct {
	userID                         string
	master, selfSigning, userSigng csKey
}

func newCrossSigning(t *testing.T, userID string) *crossSigning {
	return &crossSigning{userID: userID, master: newCSKey(t), selfSigning: newCSKey(t), userSigng: newCSKey(t)}
}

func (cs *crossSigning) masterKey() m { return cs.master.object(cs.userID, "master") }

// signedByMaster is a key of usage signed by the master key.
func (cs *crossSigning) signedByMaster(t *testing.T, k csKey, usage string) m {
	return signWith(t, k.object(cs.userID, usage), cs.userID, cs.master.id(), cs.master.priv)
}

func (cs *crossSigning) uploadBody(t *testing.T) m {
	return m{"master_key": cs.masterKey(), "self_signing_key": cs.signedByMaster(t, cs.selfSigning, "self_signing"),
		"user_signing_key": cs.signedByMaster(t, cs.userSigng, "user_signing")}
}

// mustBootstrap uploads the user's first cross-signing keys, which needs
// no user-interactive authentication.
func (cs *crossSigning) mustBootstrap(t *testing.T, c *servertest.Client) {
	t.Helper()
	c.MustDo("POST", deviceSigningUpload, cs.uploadBody(t), nil)
}

type csQueryResp struct {
	DeviceKeys      map[string]map[string]m `json:"device_keys"`
	MasterKeys      map[string]m            `json:"master_keys"`
	SelfSigningKeys map[string]m            `json:"self_signing_keys"`
	UserSigningKeys map[string]m            `json:"user_signing_keys"`
}

func csQuery(c *servertest.Client, users ...string) csQueryResp {
	q := m{}
	for _, u := range users {
		q[u] = []string{}
	}
	var resp csQueryResp
	c.MustDo("POST", "/_matrix/client/v3/keys/query", m{"device_keys": q}, &resp)
	return resp
}

// signatureOf returns obj's signature by userID with keyID ("" for none).
func signatureOf(obj m, userID, keyID string) string {
	sigs, _ := obj["signatures"].(map[string]any)
	byUser, _ := sigs[userID].(map[string]any)
	s, _ := byUser[keyID].(string)
	return s
}

type failuresResp struct {
	Failures map[string]map[string]struct {
		Status  int    `json:"status"`
		Errcode string `json:"errcode"`
	} `json:"failures"`
}

func uploadSignatures(t *testing.T, c *servertest.Client, body m) failuresResp {
	t.Helper()
	var resp failuresResp
	c.MustDo("POST", signaturesUpload, body, &resp)
	return resp
}

// The first upload needs no authentication; the keys appear in
// /keys/query, the user-signing key only to its owner.
func TestCrossSigning_FirstUploadPublishesKeys(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		cs := newCrossSigning(t, bob.UserID)
		cs.mustBootstrap(t, bob)

		own := csQuery(bob, bob.UserID)
		if own.MasterKeys[bob.UserID]["user_id"] != bob.UserID || own.SelfSigningKeys[bob.UserID] == nil || own.UserSigningKeys[bob.UserID] == nil {
			t.Fatalf("own query: %+v", own)
		}
		if signatureOf(own.SelfSigningKeys[bob.UserID], bob.UserID, cs.master.id()) == "" {
			t.Fatalf("self-signing key lost its signature: %+v", own.SelfSigningKeys)
		}
		theirs := csQuery(alice, bob.UserID)
		if theirs.MasterKeys[bob.UserID] == nil || theirs.SelfSigningKeys[bob.UserID] == nil {
			t.Fatalf("alice's query: %+v", theirs)
		}
		if _, ok := theirs.UserSigningKeys[bob.UserID]; ok {
			t.Fatalf("alice sees bob's user-signing key: %+v", theirs.UserSigningKeys)
		}
		// A user without keys has none listed.
		if q := csQuery(bob, alice.UserID); len(q.MasterKeys) != 0 {
			t.Fatalf("alice has no keys: %+v", q)
		}
	})
}

// Once a master key exists, replacing any key needs user-interactive
// authentication; uploading the same keys again does not (it keeps a
// retried request idempotent, cross_signing.yaml).
func TestCrossSigning_ReplacementNeedsUIA(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		bob := s.Register("bob")
		cs := newCrossSigning(t, bob.UserID)
		first := cs.uploadBody(t)
		bob.MustDo("POST", deviceSigningUpload, first, nil)
		bob.MustDo("POST", deviceSigningUpload, first, nil)
		bob.MustDo("POST", deviceSigningUpload, m{"master_key": first["master_key"]}, nil)

		next := newCrossSigning(t, bob.UserID)
		body := next.uploadBody(t)
		var uia struct {
			Session string `json:"session"`
			Flows   []struct {
				Stages []string `json:"stages"`
			} `json:"flows"`
		}
		status, raw := bob.Do("POST", deviceSigningUpload, body, nil)
		_ = json.Unmarshal(raw, &uia)
		if status != 401 || uia.Session == "" || len(uia.Flows) == 0 {
			t.Fatalf("replacement without auth: %d %s", status, raw)
		}
		// A new self-signing key alone is a replacement too.
		if status, raw := bob.Do("POST", deviceSigningUpload, m{"self_signing_key": cs.signedByMaster(t, newCSKey(t), "self_signing")}, nil); status != 401 {
			t.Fatalf("new self-signing key without auth: %d %s", status, raw)
		}
		// A wrong password is refused and changes nothing.
		body["auth"] = m{"type": "m.login.password", "session": uia.Session, "password": "wrong",
			"identifier": m{"type": "m.id.user", "user": bob.UserID}}
		if status, raw := bob.Do("POST", deviceSigningUpload, body, nil); status != 401 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Fatalf("wrong password: %d %s", status, raw)
		}
		if q := csQuery(bob, bob.UserID); q.MasterKeys[bob.UserID]["keys"].(map[string]any)[cs.master.id()] == nil {
			t.Fatalf("keys changed without auth: %+v", q.MasterKeys)
		}
		body["auth"] = m{"type": "m.login.password", "session": uia.Session, "password": testPassword,
			"identifier": m{"type": "m.id.user", "user": bob.UserID}}
		bob.MustDo("POST", deviceSigningUpload, body, nil)
		q := csQuery(bob, bob.UserID)
		if q.MasterKeys[bob.UserID]["keys"].(map[string]any)[next.master.id()] == nil ||
			q.UserSigningKeys[bob.UserID]["keys"].(map[string]any)[next.userSigng.id()] == nil {
			t.Fatalf("keys after authenticated replacement: %+v", q)
		}
	})
}

func TestCrossSigning_UploadRefusesBadKeys(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		cs := newCrossSigning(t, bob.UserID)
		other := newCSKey(t)
		twoKeys := cs.masterKey()
		twoKeys["keys"] = m{cs.master.id(): cs.master.pub, other.id(): other.pub}
		misnamed := cs.masterKey()
		misnamed["keys"] = m{other.id(): cs.master.pub}
		wrongUsage := cs.master.object(bob.UserID, "self_signing")
		notSigned := cs.selfSigning.object(bob.UserID, "self_signing")
		signedByOther := signWith(t, cs.selfSigning.object(bob.UserID, "self_signing"), bob.UserID, cs.master.id(), other.priv)
		for _, tc := range []struct {
			name   string
			c      *servertest.Client
			body   m
			status int
			code   string
		}{
			{"master key of another user", alice, m{"master_key": cs.masterKey()}, 400, "M_INVALID_PARAM"},
			{"master key with two keys", bob, m{"master_key": twoKeys}, 400, "M_INVALID_PARAM"},
			{"key named after another key", bob, m{"master_key": misnamed}, 400, "M_INVALID_PARAM"},
			{"master key without master usage", bob, m{"master_key": wrongUsage}, 400, "M_INVALID_PARAM"},
			{"self-signing key not signed", bob, m{"master_key": cs.masterKey(), "self_signing_key": notSigned}, 400, "M_INVALID_SIGNATURE"},
			{"self-signing key signed by another key", bob, m{"master_key": cs.masterKey(), "self_signing_key": signedByOther}, 400, "M_INVALID_SIGNATURE"},
			{"user-signing key without any master key", bob, m{"user_signing_key": cs.signedByMaster(t, cs.userSigng, "user_signing")}, 400, "M_MISSING_PARAM"},
			{"nothing at all", bob, m{}, 400, "M_MISSING_PARAM"},
			{"key not an object", bob, m{"master_key": "key"}, 400, "M_BAD_JSON"},
		} {
			status, raw := tc.c.Do("POST", deviceSigningUpload, tc.body, nil)
			if status != tc.status || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
			}
		}
		if q := csQuery(bob, bob.UserID); len(q.MasterKeys) != 0 {
			t.Fatalf("a refused upload stored keys: %+v", q)
		}
		// A cross-signing public key may not be one of the user's device
		// IDs: clients verify master keys as if they were devices.
		dev := login(t, s, "bob", cs.master.pub)
		if status, raw := dev.Do("POST", deviceSigningUpload, cs.uploadBody(t), nil); status != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Fatalf("key equal to a device ID: %d %s", status, raw)
		}
	})
}

// A device signed by its user's self-signing key shows the signature to
// everyone who queries it; the device's own signature stays.
func TestCrossSigning_DeviceSignedBySelfSigningKey(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t)})
		cs := newCrossSigning(t, bob.UserID)
		cs.mustBootstrap(t, bob)

		signed := signWith(t, dev.deviceKeys(t), bob.UserID, cs.selfSigning.id(), cs.selfSigning.priv)
		if f := uploadSignatures(t, bob, m{bob.UserID: m{bob.DeviceID: signed}}); len(f.Failures) != 0 {
			t.Fatalf("failures: %+v", f)
		}
		got := csQuery(alice, bob.UserID).DeviceKeys[bob.UserID][bob.DeviceID]
		if signatureOf(got, bob.UserID, cs.selfSigning.id()) == "" || signatureOf(got, bob.UserID, "ed25519:"+bob.DeviceID) == "" {
			t.Fatalf("device keys: %+v", got)
		}
		// The merged object verifies with the self-signing key.
		raw, _ := json.Marshal(got)
		pub, _ := signing.DecodeBase64(cs.selfSigning.pub)
		if err := signing.VerifyDeviceJSON(raw, bob.UserID, cs.selfSigning.pub, pub); err != nil {
			t.Fatalf("merged signature does not verify: %v", err)
		}
	})
}

// Each signed key succeeds or fails on its own: the good ones are stored,
// the others listed in failures with the errcode Synapse gives.
func TestCrossSigning_SignatureFailuresPerKey(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		s.Register("bob")
		bob := login(t, s, "bob", "GOOD")
		bob2 := login(t, s, "bob", "FORGED")
		bob3 := login(t, s, "bob", "CHANGED")
		bob4 := login(t, s, "bob", "UNSIGNED")
		var devs []*testDevice
		for _, c := range []*servertest.Client{bob, bob2, bob3, bob4} {
			d := newTestDevice(t, c)
			mustUpload(t, c, m{"device_keys": d.deviceKeys(t)})
			devs = append(devs, d)
		}
		cs := newCrossSigning(t, bob.UserID)

		ssk := func(obj m) m { return signWith(t, obj, bob.UserID, cs.selfSigning.id(), cs.selfSigning.priv) }
		// Before there is a self-signing key every device fails.
		f := uploadSignatures(t, bob, m{bob.UserID: m{"GOOD": ssk(devs[0].deviceKeys(t))}})
		if f.Failures[bob.UserID]["GOOD"].Errcode != "M_NOT_FOUND" {
			t.Fatalf("without a self-signing key: %+v", f)
		}
		cs.mustBootstrap(t, bob)

		changed := devs[2].deviceKeys(t)
		changed["algorithms"] = []string{"m.megolm.v1.aes-sha2"}
		f = uploadSignatures(t, bob, m{bob.UserID: m{
			"GOOD":     ssk(devs[0].deviceKeys(t)),
			"FORGED":   signWith(t, devs[1].deviceKeys(t), bob.UserID, cs.selfSigning.id(), newCSKey(t).priv),
			"CHANGED":  ssk(changed),
			"UNSIGNED": devs[3].deviceKeys(t),
			"NOSUCH":   ssk(devs[0].deviceKeys(t)),
		}})
		want := map[string]string{"FORGED": "M_INVALID_SIGNATURE", "CHANGED": "M_UNKNOWN", "UNSIGNED": "M_INVALID_SIGNATURE", "NOSUCH": "M_NOT_FOUND"}
		for key, code := range want {
			if got := f.Failures[bob.UserID][key]; got.Errcode != code || got.Status == 0 {
				t.Errorf("%s: %+v, want %s", key, got, code)
			}
		}
		if _, ok := f.Failures[bob.UserID]["GOOD"]; ok || len(f.Failures[bob.UserID]) != len(want) {
			t.Errorf("failures: %+v", f.Failures)
		}
		q := csQuery(alice, bob.UserID)
		if signatureOf(q.DeviceKeys[bob.UserID]["GOOD"], bob.UserID, cs.selfSigning.id()) == "" {
			t.Fatalf("the good signature was not stored: %+v", q.DeviceKeys[bob.UserID]["GOOD"])
		}
		for _, d := range []string{"FORGED", "CHANGED", "UNSIGNED"} {
			if signatureOf(q.DeviceKeys[bob.UserID][d], bob.UserID, cs.selfSigning.id()) != "" {
				t.Errorf("refused signature of %s stored", d)
			}
		}
	})
}

// A user's master key signed by one of their devices is public.
func TestCrossSigning_MasterKeySignedByDevice(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t)})
		cs := newCrossSigning(t, bob.UserID)
		cs.mustBootstrap(t, bob)
		deviceKeyID := "ed25519:" + bob.DeviceID

		forged := signWith(t, cs.masterKey(), bob.UserID, deviceKeyID, newCSKey(t).priv)
		if f := uploadSignatures(t, bob, m{bob.UserID: m{cs.master.pub: forged}}); f.Failures[bob.UserID][cs.master.pub].Errcode != "M_INVALID_SIGNATURE" {
			t.Fatalf("forged device signature: %+v", f)
		}
		signed := signWith(t, cs.masterKey(), bob.UserID, deviceKeyID, dev.priv)
		if f := uploadSignatures(t, bob, m{bob.UserID: m{cs.master.pub: signed}}); len(f.Failures) != 0 {
			t.Fatalf("failures: %+v", f)
		}
		if got := csQuery(alice, bob.UserID).MasterKeys[bob.UserID]; signatureOf(got, bob.UserID, deviceKeyID) == "" {
			t.Fatalf("master key: %+v", got)
		}
	})
}

// Another user's master key signed by the caller's user-signing key: the
// signature is seen by the signer only (end_to_end_encryption.md
// "Cross-signing": the user-signing key's signatures are private).
func TestCrossSigning_OtherUsersMasterKeySignedByUserSigningKey(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob, carol := s.Register("alice"), s.Register("bob"), s.Register("carol")
		aliceCS, bobCS := newCrossSigning(t, alice.UserID), newCrossSigning(t, bob.UserID)
		bobCS.mustBootstrap(t, bob)
		usk := func(obj m) m { return signWith(t, obj, alice.UserID, aliceCS.userSigng.id(), aliceCS.userSigng.priv) }

		f := uploadSignatures(t, alice, m{bob.UserID: m{bobCS.master.pub: usk(bobCS.masterKey())}})
		if f.Failures[bob.UserID][bobCS.master.pub].Errcode != "M_NOT_FOUND" {
			t.Fatalf("without a user-signing key: %+v", f)
		}
		aliceCS.mustBootstrap(t, alice)
		f = uploadSignatures(t, alice, m{
			bob.UserID:             m{bobCS.master.pub: signWith(t, bobCS.masterKey(), alice.UserID, aliceCS.userSigng.id(), newCSKey(t).priv), "OTHERKEY": usk(bobCS.masterKey())},
			carol.UserID:           m{"CAROLKEY": usk(m{"user_id": carol.UserID})},
			"@dave:remote.example": m{"DAVEKEY": usk(m{"user_id": "@dave:remote.example"})},
		})
		for _, tc := range []struct{ user, key, code string }{
			{bob.UserID, bobCS.master.pub, "M_INVALID_SIGNATURE"},
			{bob.UserID, "OTHERKEY", "M_NOT_FOUND"},
			{carol.UserID, "CAROLKEY", "M_NOT_FOUND"},
			{"@dave:remote.example", "DAVEKEY", "M_NOT_FOUND"},
		} {
			if got := f.Failures[tc.user][tc.key]; got.Errcode != tc.code {
				t.Errorf("%s %s: %+v, want %s", tc.user, tc.key, got, tc.code)
			}
		}
		if f := uploadSignatures(t, alice, m{bob.UserID: m{bobCS.master.pub: usk(bobCS.masterKey())}}); len(f.Failures) != 0 {
			t.Fatalf("failures: %+v", f)
		}
		if got := csQuery(alice, bob.UserID).MasterKeys[bob.UserID]; signatureOf(got, alice.UserID, aliceCS.userSigng.id()) == "" {
			t.Fatalf("alice does not see her signature: %+v", got)
		}
		for _, c := range []*servertest.Client{bob, carol} {
			if got := csQuery(c, bob.UserID).MasterKeys[bob.UserID]; signatureOf(got, alice.UserID, aliceCS.userSigng.id()) != "" {
				t.Fatalf("%s sees alice's signature: %+v", c.UserID, got)
			}
		}
	})
}

func TestCrossSigning_BadSignatureRequestsRefused(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		for _, tc := range []struct {
			name string
			body any
			code string
		}{
			{"not JSON", "{", "M_NOT_JSON"},
			{"a signed key not an object", m{alice.UserID: m{"D": "x"}}, "M_INVALID_PARAM"},
			{"a bad user ID", m{"alice": m{"D": m{}}}, "M_INVALID_PARAM"},
			{"keys not a map", m{alice.UserID: "x"}, "M_BAD_JSON"},
		} {
			if status, raw := alice.Do("POST", signaturesUpload, tc.body, nil); status != 400 || servertest.Errcode(raw) != tc.code {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, status, raw, tc.code)
			}
		}
		for _, p := range []string{deviceSigningUpload, signaturesUpload} {
			if status, _ := s.Anonymous().Do("POST", p, m{}, nil); status != 401 {
				t.Errorf("%s without a token: %d", p, status)
			}
		}
	})
}

// A deleted device's signatures go with it: a later device reusing its ID
// does not show a signature made for another key.
func TestCrossSigning_DeletedDeviceLosesSignatures(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		s.Register("bob")
		bob := login(t, s, "bob", "PHONE")
		dev := newTestDevice(t, bob)
		mustUpload(t, bob, m{"device_keys": dev.deviceKeys(t)})
		cs := newCrossSigning(t, bob.UserID)
		cs.mustBootstrap(t, bob)
		signed := signWith(t, dev.deviceKeys(t), bob.UserID, cs.selfSigning.id(), cs.selfSigning.priv)
		if f := uploadSignatures(t, bob, m{bob.UserID: m{"PHONE": signed}}); len(f.Failures) != 0 {
			t.Fatalf("failures: %+v", f)
		}
		bob.MustDo("POST", "/_matrix/client/v3/logout", m{}, nil)
		again := login(t, s, "bob", "PHONE")
		mustUpload(t, again, m{"device_keys": newTestDevice(t, again).deviceKeys(t)})
		if got := csQuery(alice, bob.UserID).DeviceKeys[bob.UserID]["PHONE"]; got == nil || signatureOf(got, bob.UserID, cs.selfSigning.id()) != "" {
			t.Fatalf("new device under the old ID: %+v", got)
		}
	})
}
