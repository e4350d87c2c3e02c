package signing

import (
	"crypto/sha256"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// Spec: appendices, "Cryptographic Test Vectors", "Signing Key": every vector
// uses this seed, server name "domain" and key ID "ed25519:1".
const testSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

func testKey(t testing.TB) SigningKey {
	t.Helper()
	seed, err := DecodeBase64(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewSigningKey("1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Spec: appendices, "Cryptographic Test Vectors", "JSON Signing".
func TestSignJSON_SpecVectors(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct{ name, in, want string }{
		{"empty object", `{}`, `{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}`},
		{"data values", "{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SignJSON([]byte(tc.in), "domain", k)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if err := VerifyJSON(got, "domain", k.ID, k.Public()); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// Spec: appendices, "Cryptographic Test Vectors", "Event Signing". Event
// signing is: content hash over the event without unsigned, signatures and
// hashes (server-server API, "Calculating the content hash for an event");
// then a signature over the redacted event. The redaction algorithm belongs
// to the event package, so the redacted forms are written out here: the
// first event is unchanged by redaction, the second loses its content.
func TestSignJSON_SpecEventVectors(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		name, event, redactedContent, wantHash, wantSig, wantSigned string
	}{
		{
			name: "minimal event",
			event: `{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,
				"signatures":{},"hashes":{},"type":"X","content":{},"prev_events":[],"auth_events":[],"depth":3,
				"unsigned":{"age_ts":1000000}}`,
			redactedContent: `{}`,
			wantHash:        "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos",
			wantSig:         "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
			wantSigned: `{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
				"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain",
				"signatures":{"domain":{"ed25519:1":"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},
				"type":"X","unsigned":{"age_ts":1000000}}`,
		},
		{
			name: "redactable content",
			event: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain","origin":"domain",
				"origin_server_ts":1000000,"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
				"signatures":{},"unsigned":{"age_ts":1000000}}`,
			redactedContent: `{}`,
			wantHash:        "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g",
			wantSig:         "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA",
			wantSigned: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain",
				"hashes":{"sha256":"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},"origin":"domain","origin_server_ts":1000000,
				"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
				"signatures":{"domain":{"ed25519:1":"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
				"unsigned":{"age_ts":1000000}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := canonicaljson.Canonicalize([]byte(tc.event), canonicaljson.StrictOptions)
			if err != nil {
				t.Fatal(err)
			}
			// Content hash.
			forHash, err := canonicaljson.RemoveKeys(ev, "unsigned", "signatures", "hashes")
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(forHash)
			if got := EncodeBase64(sum[:]); got != tc.wantHash {
				t.Fatalf("content hash %s, want %s", got, tc.wantHash)
			}
			hashes, _ := canonicaljson.Marshal(map[string]string{"sha256": tc.wantHash})
			full, err := canonicaljson.Set(ev, "hashes", hashes)
			if err != nil {
				t.Fatal(err)
			}
			// Signature over the redacted event.
			redacted, err := canonicaljson.Set(full, "content", []byte(tc.redactedContent))
			if err != nil {
				t.Fatal(err)
			}
			signedRedacted, err := SignJSON(redacted, "domain", k)
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := Signatures(signedRedacted)
			if err != nil {
				t.Fatal(err)
			}
			if got := sigs["domain"]["ed25519:1"]; got != tc.wantSig {
				t.Fatalf("signature %s, want %s", got, tc.wantSig)
			}
			// The full event carries the signature made over the redacted
			// one, and matches the spec's output.
			sigObj, _ := canonicaljson.Get(signedRedacted, "signatures")
			signed, err := canonicaljson.Set(full, "signatures", sigObj)
			if err != nil {
				t.Fatal(err)
			}
			want, err := canonicaljson.Canonicalize([]byte(tc.wantSigned), canonicaljson.StrictOptions)
			if err != nil {
				t.Fatal(err)
			}
			if string(signed) != string(want) {
				t.Errorf("signed event\ngot  %s\nwant %s", signed, want)
			}
			if err := VerifyJSON(signedRedacted, "domain", k.ID, k.Public()); err != nil {
				t.Errorf("verify redacted: %v", err)
			}
		})
	}
}
