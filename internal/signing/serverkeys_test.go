package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

func keyN(t testing.TB, version string, n byte) SigningKey {
	t.Helper()
	k, err := NewSigningKey(version, bytes.Repeat([]byte{n}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedBody signs body as serverName with each key in turn.
func signedBody(t *testing.T, body, serverName string, keys ...SigningKey) []byte {
	t.Helper()
	out := []byte(body)
	for _, k := range keys {
		var err error
		if out, err = SignJSON(out, serverName, k); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestBuildAndParseServerKeys_RoundTrip(t *testing.T) {
	cur1, cur2 := keyN(t, "a_One", 1), keyN(t, "a_Two", 2)
	old := keyN(t, "0ld", 3)
	raw, err := BuildServerKeys("example.org", []SigningKey{cur2, cur1},
		map[KeyID]OldVerifyKey{old.ID: {Key: Base64Bytes(old.Public()), ExpiredTS: 1000}}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !canonicaljson.IsCanonical(raw) {
		t.Errorf("not canonical: %s", raw)
	}
	// The wire shape the spec documents (server-server API, "Publishing Keys").
	for _, path := range [][]string{
		{"server_name"}, {"valid_until_ts"},
		{"verify_keys", "ed25519:a_One", "key"}, {"verify_keys", "ed25519:a_Two", "key"},
		{"old_verify_keys", "ed25519:0ld", "key"}, {"old_verify_keys", "ed25519:0ld", "expired_ts"},
		{"signatures", "example.org", "ed25519:a_One"}, {"signatures", "example.org", "ed25519:a_Two"},
	} {
		if _, err := canonicaljson.Get(raw, path...); err != nil {
			t.Errorf("missing %v in %s", path, raw)
		}
	}
	if v, _ := canonicaljson.Get(raw, "verify_keys", "ed25519:a_One", "key"); string(v) != `"`+EncodeBase64(cur1.Public())+`"` {
		t.Errorf("key encoded as %s", v)
	}

	k, err := ParseServerKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	if k.ServerName != "example.org" || k.ValidUntilTS != 5000 || len(k.VerifyKeys) != 2 || len(k.OldVerifyKeys) != 1 {
		t.Errorf("parsed %+v", k)
	}
	if !bytes.Equal(k.Raw, raw) {
		t.Error("Raw differs from input")
	}
	if !bytes.Equal(k.OldVerifyKeys[old.ID].Key, old.Public()) || k.OldVerifyKeys[old.ID].ExpiredTS != 1000 {
		t.Errorf("old key %+v", k.OldVerifyKeys[old.ID])
	}
	if len(k.Signatures["example.org"]) != 2 {
		t.Errorf("signatures %v", k.Signatures)
	}
	// A notary adds its own signature; the response still parses.
	notary := keyN(t, "n", 4)
	notarised, err := SignJSON(raw, "notary.org", notary)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseServerKeys(notarised)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyJSON(k2.Raw, "notary.org", notary.ID, notary.Public()); err != nil {
		t.Errorf("notary signature: %v", err)
	}
}

func TestBuildServerKeys_Rejects(t *testing.T) {
	k := keyN(t, "a", 1)
	if _, err := BuildServerKeys("", []SigningKey{k}, nil, 1); !errors.Is(err, ErrBadServerKeys) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := BuildServerKeys("x", nil, nil, 1); !errors.Is(err, ErrBadServerKeys) {
		t.Errorf("no keys: %v", err)
	}
	if _, err := BuildServerKeys("x", []SigningKey{{ID: "ed25519:a"}}, nil, 1); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("no private key: %v", err)
	}
	if _, err := BuildServerKeys("x", []SigningKey{{ID: "bad", Private: k.Private}}, nil, 1); !errors.Is(err, ErrInvalidKeyID) {
		t.Errorf("bad key ID: %v", err)
	}
	if _, err := BuildServerKeys("x", []SigningKey{k}, map[KeyID]OldVerifyKey{"ed25519:o": {Key: []byte{1}}}, 1); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short old key: %v", err)
	}
}

func TestParseServerKeys_Rejects(t *testing.T) {
	a, b := keyN(t, "a", 1), keyN(t, "b", 2)
	pubA, pubB := EncodeBase64(a.Public()), EncodeBase64(b.Public())
	for _, tc := range []struct {
		name string
		data []byte
		err  error
	}{
		{"not JSON", []byte(`{`), canonicaljson.ErrSyntax},
		{"not an object", []byte(`[]`), ErrBadServerKeys},
		{"duplicate key", []byte(`{"server_name":"x","server_name":"y"}`), canonicaljson.ErrDuplicateKey},
		{"unsigned", []byte(`{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"` + pubA + `"}}}`), ErrBadServerKeys},
		{"missing server_name", signedBody(t, `{"valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"server_name wrong case", signedBody(t, `{"Server_Name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"empty server_name", signedBody(t, `{"server_name":"","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"missing valid_until_ts", signedBody(t, `{"server_name":"x","verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"valid_until_ts a string", signedBody(t, `{"server_name":"x","valid_until_ts":"1","verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"valid_until_ts a float", signedBody(t, `{"server_name":"x","valid_until_ts":1.5,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a), ErrBadServerKeys},
		{"missing verify_keys", signedBody(t, `{"server_name":"x","valid_until_ts":1}`, "x", a), ErrBadServerKeys},
		{"empty verify_keys", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{}}`, "x", a), ErrBadServerKeys},
		{"verify key without key", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{}}}`, "x", a), ErrBadServerKeys},
		{"verify key bad base64", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"!!"}}}`, "x", a), ErrBadBase64},
		{"verify key short", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"AAAA"}}}`, "x", a), ErrBadServerKeys},
		{"only unknown algorithms", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"rsa:a":{"key":"AAAA"}}}`, "x", a), ErrBadServerKeys},
		{"signed by another server name", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "y", a), ErrNoSignature},
		{"signed by wrong key", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubB+`"}}}`, "x", a), ErrBadSignature},
		{"not signed by every verify key", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"},"ed25519:b":{"key":"`+pubB+`"}}}`, "x", a), ErrNoSignature},
		{"old key without expired_ts", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}},"old_verify_keys":{"ed25519:b":{"key":"`+pubB+`"}}}`, "x", a), ErrBadServerKeys},
		{"old key without key", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}},"old_verify_keys":{"ed25519:b":{"expired_ts":1}}}`, "x", a), ErrBadServerKeys},
		{"old_verify_keys not object", signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}},"old_verify_keys":[]}`, "x", a), ErrBadServerKeys},
		{"signatures malformed", []byte(`{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"` + pubA + `"}},"signatures":{"x":"sig"}}`), ErrNotObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseServerKeys(tc.data); !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
	// Tampering after signing breaks the self-signature.
	good := signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"}}}`, "x", a)
	if _, err := ParseServerKeys(good); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	bad, _ := canonicaljson.Set(good, "valid_until_ts", []byte(`999999999999`))
	if _, err := ParseServerKeys(bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered valid_until_ts: %v", err)
	}
}

// Keys this server cannot use are skipped rather than failing the response,
// and signatures by keys it does not list are ignored.
func TestParseServerKeys_SkipsUnusableKeys(t *testing.T) {
	a, stray := keyN(t, "a", 1), keyN(t, "stray", 5)
	pubA := EncodeBase64(a.Public())
	data := signedBody(t, `{"server_name":"x","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"`+pubA+`"},
		"curve25519:c":{"key":"AAAA"},"ed25519:bad-version":{"key":"AAAA"}},
		"old_verify_keys":{"rsa:o":{"key":"AAAA","expired_ts":1}},"extra":{"future":true}}`, "x", a, stray)
	k, err := ParseServerKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.VerifyKeys) != 1 || len(k.OldVerifyKeys) != 0 {
		t.Errorf("keys %v / %v", k.VerifyKeys, k.OldVerifyKeys)
	}
}

// Spec: rooms/fragments/v5-signing-requirements; server-server API,
// "Validating hashes and signatures on received events"; keys_server
// valid_until_ts and old_verify_keys.expired_ts.
func TestKeyValidAt(t *testing.T) {
	cur, old := keyN(t, "cur", 1), keyN(t, "old", 2)
	const day = 24 * 60 * 60 * 1000
	keys := &ServerKeys{
		ServerName:    "x",
		VerifyKeys:    map[KeyID]VerifyKey{cur.ID: {Key: Base64Bytes(cur.Public())}},
		OldVerifyKeys: map[KeyID]OldVerifyKey{old.ID: {Key: Base64Bytes(old.Public()), ExpiredTS: 500}},
		ValidUntilTS:  100 * day,
	}
	for _, tc := range []struct {
		name      string
		id        KeyID
		fetched   int64
		ts        int64
		enforce   bool
		wantValid bool
	}{
		{"current key before valid_until_ts", cur.ID, 0, 50 * day, true, true},
		{"current key at valid_until_ts", cur.ID, 0, 100 * day, true, true},
		{"current key after valid_until_ts", cur.ID, 0, 100*day + 1, true, false},
		{"current key after valid_until_ts, v1-4", cur.ID, 0, 200 * day, false, true},
		{"7-day cap: within a week of fetching", cur.ID, 10 * day, 17 * day, true, true},
		{"7-day cap: past a week of fetching", cur.ID, 10 * day, 17*day + 1, true, false},
		{"7-day cap not applied in v1-4", cur.ID, 10 * day, 50 * day, false, true},
		{"cap irrelevant when valid_until_ts is sooner", cur.ID, 99 * day, 100*day + 1, true, false},
		{"old key before expiry", old.ID, 0, 499, true, true},
		{"old key at expiry", old.ID, 0, 500, true, true},
		{"old key after expiry", old.ID, 0, 501, true, false},
		{"old key after expiry, v1-4", old.ID, 0, 10 * day, false, true},
		{"unknown key", "ed25519:nope", 0, 1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys.FetchedTS = tc.fetched
			pub, ok := keys.KeyValidAt(tc.id, tc.ts, tc.enforce)
			if ok != tc.wantValid {
				t.Fatalf("valid = %v, want %v", ok, tc.wantValid)
			}
			if ok {
				want := cur.Public()
				if tc.id == old.ID {
					want = old.Public()
				}
				if !pub.Equal(want) {
					t.Error("wrong key returned")
				}
			} else if pub != nil {
				t.Error("key returned with ok=false")
			}
		})
	}
	keys.FetchedTS = 10 * day
	if got := keys.EffectiveValidUntil(); got != 17*day {
		t.Errorf("EffectiveValidUntil = %d, want %d", got, 17*day)
	}
}

func TestBase64Bytes_JSON(t *testing.T) {
	b, err := canonicaljson.Marshal(map[string]Base64Bytes{"k": {0xfb, 0xff}})
	if err != nil || string(b) != `{"k":"+/8"}` {
		t.Errorf("marshal: %s, %v", b, err)
	}
	var v struct{ K Base64Bytes }
	for _, in := range []string{`{"K":"+/8"}`, `{"K":"-_8="}`} {
		if err := jsonUnmarshal(in, &v); err != nil || !bytes.Equal(v.K, []byte{0xfb, 0xff}) {
			t.Errorf("%s: %x, %v", in, v.K, err)
		}
	}
	if err := jsonUnmarshal(`{"K":"!"}`, &v); !errors.Is(err, ErrBadBase64) {
		t.Errorf("bad base64: %v", err)
	}
	if err := jsonUnmarshal(`{"K":1}`, &v); err == nil {
		t.Error("number: no error")
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
