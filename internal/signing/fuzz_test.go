package signing

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// FuzzVerifyJSON: VerifyJSON, Signatures and SignJSON never panic on any
// input; a signature that verifies is the one SignJSON makes (ed25519 is
// deterministic); whatever SignJSON signs then verifies.
func FuzzVerifyJSON(f *testing.F) {
	f.Add([]byte(`{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}`), "domain", "ed25519:1")
	key := testKey(f)
	f.Fuzz(func(t *testing.T, data []byte, entity, keyID string) {
		verr := VerifyJSON(data, entity, KeyID(keyID), key.Public())
		_, _ = Signatures(data)
		signed, err := SignJSON(data, entity, key)
		if verr == nil {
			if err != nil {
				t.Fatalf("verified but cannot sign: %v", err)
			}
			want, _ := Signatures(signed)
			got, _ := Signatures(data)
			a, _ := DecodeBase64(got[entity][KeyID(keyID)])
			b, _ := DecodeBase64(want[entity][key.ID])
			if !bytes.Equal(a, b) {
				t.Fatalf("verified signature differs from ours")
			}
		}
		if err != nil {
			return
		}
		if err := VerifyJSON(signed, entity, key.ID, key.Public()); err != nil {
			t.Fatalf("own signature does not verify: %v\n%s", err, signed)
		}
		again, err := canonicaljson.Canonicalize(signed, canonicaljson.LenientOptions)
		if err != nil || !bytes.Equal(again, signed) {
			t.Fatalf("SignJSON output not canonical: %s", signed)
		}
	})
}

// FuzzParseServerKeys: no panic; an accepted response is self-signed by each
// of its verify keys, which are valid at valid_until_ts, and re-parses the
// same from its Raw form.
func FuzzParseServerKeys(f *testing.F) {
	f.Add([]byte(`{"server_name":"x","valid_until_ts":1,"verify_keys":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseServerKeys(data)
		if err != nil {
			return
		}
		for id, vk := range k.VerifyKeys {
			if err := VerifyJSON(k.Raw, k.ServerName, id, ed25519.PublicKey(vk.Key)); err != nil {
				t.Fatalf("accepted but %s does not verify: %v", id, err)
			}
			if _, ok := k.KeyValidAt(id, k.ValidUntilTS, true); !ok {
				t.Fatalf("%s not valid at valid_until_ts", id)
			}
		}
		k2, err := ParseServerKeys(k.Raw)
		if err != nil || k2.ServerName != k.ServerName || len(k2.VerifyKeys) != len(k.VerifyKeys) || !bytes.Equal(k2.Raw, k.Raw) {
			t.Fatalf("Raw does not re-parse the same: %v", err)
		}
	})
}
