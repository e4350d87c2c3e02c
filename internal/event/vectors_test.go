package event

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

// specKey is the key of appendices.md "Cryptographic Test Vectors".
func specKey(t testing.TB) signing.SigningKey {
	t.Helper()
	seed, err := base64.RawStdEncoding.DecodeString("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.NewSigningKey("1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func canon(t testing.TB, s string) string {
	t.Helper()
	out, err := canonicaljson.Canonicalize([]byte(s), canonicaljson.LenientOptions)
	if err != nil {
		t.Fatalf("canonicalize %s: %v", s, err)
	}
	return string(out)
}

// TestSpecEventSigningVectors reproduces appendices.md "Event Signing". The
// vectors keep the legacy `origin` field in the signed (redacted) form, so
// they hold for the v1–v10 redaction algorithms.
func TestSpecEventSigningVectors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{
			name: "minimal event",
			in: `{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,
				"signatures":{},"hashes":{},"type":"X","content":{},"prev_events":[],"auth_events":[],
				"depth":3,"unsigned":{"age_ts":1000000}}`,
			want: `{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
				"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain",
				"signatures":{"domain":{"ed25519:1":"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},
				"type":"X","unsigned":{"age_ts":1000000}}`,
		},
		{
			name: "event with redactable content",
			in: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain","origin":"domain",
				"origin_server_ts":1000000,"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
				"signatures":{},"unsigned":{"age_ts":1000000}}`,
			want: `{"content":{"body":"Here is the message content"},"event_id":"$0:domain",
				"hashes":{"sha256":"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},"origin":"domain",
				"origin_server_ts":1000000,"type":"m.room.message","room_id":"!r:domain","sender":"@u:domain",
				"signatures":{"domain":{"ed25519:1":"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
				"unsigned":{"age_ts":1000000}}`,
		},
	}
	for _, ver := range []roomversion.ID{"1", "3", "10"} {
		for _, c := range cases {
			t.Run(string(ver)+"/"+c.name, func(t *testing.T) {
				got, err := SignEventJSON([]byte(c.in), roomversion.MustGet(ver), "domain", specKey(t))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != canon(t, c.want) {
					t.Errorf("signed event\n got %s\nwant %s", got, canon(t, c.want))
				}
			})
		}
	}
}

// In v11+ `origin` is no longer protected from redaction (rooms/v11.md), so
// the same input gets the same content hash but a different signature.
func TestV11SignatureDiffersBecauseOriginIsRedacted(t *testing.T) {
	in := `{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,
		"signatures":{},"hashes":{},"type":"X","content":{},"prev_events":[],"auth_events":[],"depth":3}`
	old, _ := SignEventJSON([]byte(in), roomversion.MustGet("10"), "domain", specKey(t))
	v11, _ := SignEventJSON([]byte(in), roomversion.MustGet("11"), "domain", specKey(t))
	var a, b struct {
		Hashes     map[string]string
		Signatures map[string]map[string]string
	}
	_ = json.Unmarshal(old, &a)
	_ = json.Unmarshal(v11, &b)
	if a.Hashes["sha256"] != b.Hashes["sha256"] {
		t.Error("content hash must not depend on the redaction algorithm")
	}
	if a.Signatures["domain"]["ed25519:1"] == b.Signatures["domain"]["ed25519:1"] {
		t.Error("v11 signs the redacted form without origin, so signatures must differ")
	}
}
