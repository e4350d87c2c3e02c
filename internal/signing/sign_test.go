package signing

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// Spec: appendices, "Unpadded Base64".
func TestBase64_SpecExamples(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
	} {
		if got := EncodeBase64([]byte(tc.in)); got != tc.want {
			t.Errorf("EncodeBase64(%q) = %q, want %q", tc.in, got, tc.want)
		}
		got, err := DecodeBase64(tc.want)
		if err != nil || string(got) != tc.in {
			t.Errorf("DecodeBase64(%q) = %q, %v", tc.want, got, err)
		}
	}
}

// "implementations SHOULD accept input with or without padding characters";
// URL-safe Base64 is also defined (appendices, "URL-safe unpadded Base64").
func TestDecodeBase64_AcceptsPaddedAndURLSafe(t *testing.T) {
	want := []byte{0xfb, 0xff, 0xbf, 0x01}
	for _, in := range []string{"+/+/AQ", "+/+/AQ==", "-_-_AQ", "-_-_AQ=="} {
		got, err := DecodeBase64(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("DecodeBase64(%q) = %x, %v", in, got, err)
		}
	}
	// Python's decoder ignores non-zero trailing bits; so do we.
	if _, err := DecodeBase64("Zh"); err != nil {
		t.Errorf("non-zero trailing bits: %v", err)
	}
}

func TestDecodeBase64_Rejects(t *testing.T) {
	for _, in := range []string{
		"Z",        // impossible length
		"Zm9vY",    // impossible length
		"Zg=",      // padded to 3
		"Zg===",    // too much padding
		"Z===",     // too much padding
		"Zm9v=",    // padding on a full block
		"Zm 9v",    // space
		"Zm9v\nYg", // newline (Go's decoder would skip it)
		"Zm9v\r",   // carriage return
		"+/-_",     // mixed alphabets
		"Zm9v!",    // not Base64
		"Zg==Zg==", // padding in the middle
		"=",        // only padding
		"ZmÄ9",     // non-ASCII
	} {
		if _, err := DecodeBase64(in); !errors.Is(err, ErrBadBase64) {
			t.Errorf("DecodeBase64(%q) err = %v, want ErrBadBase64", in, err)
		}
	}
}

// Key IDs are "algorithm:version", version matching [a-zA-Z0-9_]
// (server-server API, "Publishing Keys").
func TestParseKeyID(t *testing.T) {
	for _, tc := range []struct{ in, alg, ver string }{
		{"ed25519:1", "ed25519", "1"},
		{"ed25519:a_AbCd", "ed25519", "a_AbCd"},
		{"ed25519:auto", "ed25519", "auto"},
		{"signed_curve25519:AAAAAQ", "signed_curve25519", "AAAAAQ"},
	} {
		alg, ver, err := ParseKeyID(tc.in)
		if err != nil || alg != tc.alg || ver != tc.ver {
			t.Errorf("ParseKeyID(%q) = %q, %q, %v", tc.in, alg, ver, err)
		}
		if id := KeyID(tc.in); id.Algorithm() != tc.alg || id.Version() != tc.ver {
			t.Errorf("KeyID(%q) methods = %q, %q", tc.in, id.Algorithm(), id.Version())
		}
	}
	for _, in := range []string{"", "ed25519", "ed25519:", ":1", "ed25519:a-b", "ed25519:a:b", "ed25519:a b", "ed 25519:1", "ed25519:é", "ed25519:1\n"} {
		if _, _, err := ParseKeyID(in); !errors.Is(err, ErrInvalidKeyID) {
			t.Errorf("ParseKeyID(%q) err = %v, want ErrInvalidKeyID", in, err)
		}
		if KeyID(in).Algorithm() != "" || KeyID(in).Version() != "" {
			t.Errorf("KeyID(%q) methods should be empty", in)
		}
	}
}

func TestNewSigningKey(t *testing.T) {
	k := testKey(t)
	if k.ID != "ed25519:1" {
		t.Errorf("ID = %q", k.ID)
	}
	seed, _ := DecodeBase64(testSeed)
	if !bytes.Equal(k.Seed(), seed) {
		t.Error("Seed does not round-trip")
	}
	if len(k.Public()) != ed25519.PublicKeySize {
		t.Error("bad public key")
	}
	if _, err := NewSigningKey("1", seed[:31]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short seed: err = %v", err)
	}
	if _, err := NewSigningKey("a-b", seed); !errors.Is(err, ErrInvalidKeyID) {
		t.Errorf("bad version: err = %v", err)
	}
	var zero SigningKey
	if zero.Public() != nil || zero.Seed() != nil {
		t.Error("zero key should have no public key or seed")
	}
}

func TestGenerateSigningKey(t *testing.T) {
	r := bytes.NewReader(bytes.Repeat([]byte{7}, 64))
	k, err := GenerateSigningKey(r)
	if err != nil {
		t.Fatal(err)
	}
	alg, ver, err := ParseKeyID(string(k.ID))
	if err != nil || alg != "ed25519" || !strings.HasPrefix(ver, "a_") || len(ver) != 6 {
		t.Errorf("ID = %q", k.ID)
	}
	if !bytes.Equal(k.Seed(), bytes.Repeat([]byte{7}, 32)) {
		t.Error("seed not taken from the reader")
	}
	if _, err := GenerateSigningKey(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("short reader: no error")
	}
}

// Spec: appendices, "Signing Details": signatures and unsigned are not
// covered, existing signatures are kept, unsigned is put back.
func TestSignJSON_KeepsSignaturesAndUnsigned(t *testing.T) {
	k := testKey(t)
	other, _ := NewSigningKey("2", bytes.Repeat([]byte{1}, 32))
	in := `{"b":1,"a":{"y":2,"x":1},"unsigned":{"age_ts":5},"signatures":{"other.org":{"ed25519:z":"c2ln"}}}`
	once, err := SignJSON([]byte(in), "domain", k)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := SignJSON(once, "domain", other)
	if err != nil {
		t.Fatal(err)
	}
	if !canonicaljson.IsCanonical(twice) {
		t.Errorf("output not canonical: %s", twice)
	}
	sigs, err := Signatures(twice)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs["other.org"]["ed25519:z"] != "c2ln" || len(sigs["domain"]) != 2 {
		t.Errorf("signatures = %v", sigs)
	}
	if u, _ := canonicaljson.Get(twice, "unsigned"); string(u) != `{"age_ts":5}` {
		t.Errorf("unsigned = %s", u)
	}
	for _, key := range []SigningKey{k, other} {
		if err := VerifyJSON(twice, "domain", key.ID, key.Public()); err != nil {
			t.Errorf("verify %s: %v", key.ID, err)
		}
	}
	// Changing unsigned or adding signatures does not break the signature.
	changed, _ := canonicaljson.Set(twice, "unsigned", []byte(`{"age_ts":99}`))
	if err := VerifyJSON(changed, "domain", k.ID, k.Public()); err != nil {
		t.Errorf("after changing unsigned: %v", err)
	}
	// Re-signing with the same key replaces, not duplicates.
	again, _ := SignJSON(twice, "domain", k)
	if !bytes.Equal(again, twice) {
		t.Errorf("re-signing changed the object:\n%s\n%s", twice, again)
	}
}

func TestSignJSON_Rejects(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		name, in string
		key      SigningKey
		entity   string
		err      error
	}{
		{"array", `[]`, k, "domain", ErrNotObject},
		{"string", `"x"`, k, "domain", ErrNotObject},
		{"duplicate keys", `{"a":1,"a":2}`, k, "domain", canonicaljson.ErrDuplicateKey},
		{"bad JSON", `{`, k, "domain", canonicaljson.ErrSyntax},
		{"signatures not object", `{"signatures":[]}`, k, "domain", ErrNotObject},
		{"signatures null", `{"signatures":null}`, k, "domain", ErrNotObject},
		{"entity not object", `{"signatures":{"x":1}}`, k, "domain", ErrNotObject},
		{"entity null", `{"signatures":{"x":null}}`, k, "domain", ErrNotObject},
		{"signature not string", `{"signatures":{"x":{"ed25519:1":1}}}`, k, "domain", ErrNotObject},
		{"empty entity", `{}`, k, "", ErrNotObject},
		{"no private key", `{}`, SigningKey{ID: "ed25519:1"}, "domain", ErrInvalidKey},
		{"bad key ID", `{}`, SigningKey{ID: "ed25519", Private: k.Private}, "domain", ErrInvalidKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SignJSON([]byte(tc.in), tc.entity, tc.key); !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

// Spec: appendices, "Checking for a Signature".
func TestVerifyJSON_Rejects(t *testing.T) {
	k := testKey(t)
	other, _ := NewSigningKey("1", bytes.Repeat([]byte{9}, 32))
	signed, err := SignJSON([]byte(`{"content":{"body":"hello"},"n":1}`), "domain", k)
	if err != nil {
		t.Fatal(err)
	}
	sig := func() string { s, _ := Signatures(signed); return s["domain"]["ed25519:1"] }()
	withSig := func(s string) []byte {
		b, _ := canonicaljson.Set(signed, "signatures", []byte(`{"domain":{"ed25519:1":"`+s+`"}}`))
		return b
	}
	tampered, _ := canonicaljson.Set(signed, "n", []byte(`2`))
	for _, tc := range []struct {
		name   string
		obj    []byte
		entity string
		id     KeyID
		pub    ed25519.PublicKey
		err    error
	}{
		{"wrong key", signed, "domain", k.ID, other.Public(), ErrBadSignature},
		{"tampered content", tampered, "domain", k.ID, k.Public(), ErrBadSignature},
		{"missing entity", signed, "elsewhere", k.ID, k.Public(), ErrNoSignature},
		{"missing key ID", signed, "domain", "ed25519:2", k.Public(), ErrNoSignature},
		{"no signatures at all", []byte(`{"n":1}`), "domain", k.ID, k.Public(), ErrNoSignature},
		{"bad base64", withSig("!!!"), "domain", k.ID, k.Public(), ErrBadBase64},
		{"truncated signature", withSig(sig[:40]), "domain", k.ID, k.Public(), ErrBadSignature},
		{"signature with extra byte", withSig(strings.NewReplacer("+", "-", "/", "_").Replace(sig) + "AA"), "domain", k.ID, k.Public(), ErrBadSignature},
		{"bad key ID", signed, "domain", "ed25519", k.Public(), ErrInvalidKeyID},
		{"bad key version", signed, "domain", "ed25519:a-b", k.Public(), ErrInvalidKeyID},
		{"unknown algorithm", signed, "domain", "curve25519:1", k.Public(), ErrInvalidKeyID},
		{"short public key", signed, "domain", k.ID, k.Public()[:31], ErrInvalidKey},
		{"nil public key", signed, "domain", k.ID, nil, ErrInvalidKey},
		{"not an object", []byte(`[1]`), "domain", k.ID, k.Public(), ErrNotObject},
		{"invalid JSON", []byte(`{"signatures":`), "domain", k.ID, k.Public(), canonicaljson.ErrSyntax},
		{"signature not a string", withSigRaw(signed, `{"domain":{"ed25519:1":5}}`), "domain", k.ID, k.Public(), ErrNotObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyJSON(tc.obj, tc.entity, tc.id, tc.pub); !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
	// Padded and URL-safe encodings of the right signature verify.
	for _, s := range []string{sig + "==", strings.NewReplacer("+", "-", "/", "_").Replace(sig)} {
		if err := VerifyJSON(withSig(s), "domain", k.ID, k.Public()); err != nil {
			t.Errorf("signature %q: %v", s, err)
		}
	}
	// Whitespace and key order in the received JSON do not matter.
	pretty := strings.Replace(string(signed), `{"content"`, "{ \"n\" : 1 ,\n \"content\"", 1)
	pretty = strings.Replace(pretty, `,"n":1`, "", 1)
	if err := VerifyJSON([]byte(pretty), "domain", k.ID, k.Public()); err != nil {
		t.Errorf("reformatted %s: %v", pretty, err)
	}
}

func withSigRaw(obj []byte, sigs string) []byte {
	b, _ := canonicaljson.Set(obj, "signatures", []byte(sigs))
	return b
}

func TestSignatures(t *testing.T) {
	sigs, err := Signatures([]byte(`{"a":1}`))
	if err != nil || sigs == nil || len(sigs) != 0 {
		t.Errorf("no signatures: %v, %v", sigs, err)
	}
	sigs, err = Signatures([]byte(`{"signatures":{"a.org":{"ed25519:1":"x","ed25519:2":"y"},"b.org":{}}}`))
	if err != nil || len(sigs) != 2 || sigs["a.org"]["ed25519:2"] != "y" || sigs["b.org"] == nil {
		t.Errorf("got %v, %v", sigs, err)
	}
}
