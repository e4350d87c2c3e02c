package policyserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/signing"
)

const (
	origin = "origin.example"
	policy = "policy.example"
)

func key(t testing.TB, version string, b byte) signing.SigningKey {
	t.Helper()
	k, err := signing.NewSigningKey(version, bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// build makes a v12 event of typ (state when stateKey is not nil) signed
// by server with its key.
func build(t testing.TB, server string, k signing.SigningKey, typ string, stateKey *string) *event.Event {
	t.Helper()
	b := &event.Builder{Type: typ, StateKey: stateKey, Sender: "@alice:" + server, RoomID: "!room", Content: json.RawMessage(`{"body":"hi"}`),
		PrevEvents: []string{"$prev"}, AuthEvents: []string{"$create"}, Depth: 3, OriginServerTS: 1700000000000}
	ev, err := b.Build(roomversion.MustGet("12"), server, k)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func policyContent(t testing.TB, via string, k signing.SigningKey) []byte {
	t.Helper()
	c, _ := json.Marshal(map[string]any{"via": via, "public_keys": map[string]any{"ed25519": signing.EncodeBase64(k.Public())}})
	return c
}

// A room uses a Policy Server only if m.room.policy has a string via and a
// public_keys object with a string ed25519 (server-server-api "Determining
// if a Policy Server is enabled in a room").
func TestParseContent_ValidityIsTheSpecsMinimum(t *testing.T) {
	for _, tc := range []struct {
		content string
		ok      bool
	}{
		{`{"via":"policy.example","public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}`, true},
		{`{"via":"policy.example","public_keys":{"ed25519":"not base64!"}}`, true}, // valid, but nothing verifies
		{`{"via":"policy.example","public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s","other":"x"}}`, true},
		{`{}`, false},
		{`{"via":"policy.example"}`, false},
		{`{"via":"policy.example","public_keys":{}}`, false},
		{`{"via":"policy.example","public_keys":{"ed25519":1}}`, false},
		{`{"via":"policy.example","public_keys":"key"}`, false},
		{`{"via":1,"public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}`, false},
		{`{"via":"not a server name","public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}`, false},
		{`[]`, false},
	} {
		cfg, ok := ParseContent([]byte(tc.content))
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.content, ok, tc.ok)
		}
		if ok && cfg.Via != "policy.example" {
			t.Errorf("%s: via = %q", tc.content, cfg.Via)
		}
	}
	// The spec's own example key is URL-safe base64 and is usable.
	cfg, _ := ParseContent([]byte(`{"via":"policy.example","public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}`))
	if len(cfg.PublicKey) != 32 {
		t.Errorf("the spec's example key was not decoded")
	}
}

// The Policy Server must have a joined user in the room, and only the
// m.room.policy event with an empty state key designates it.
func TestEnabled_NeedsAJoinedUserOfTheServer(t *testing.T) {
	pk := key(t, "policy_server", 2)
	empty, other := "", "x"
	policyEvent := func(sk *string) *event.Event {
		b := &event.Builder{Type: EventType, StateKey: sk, Sender: "@alice:" + origin, RoomID: "!room",
			Content: policyContent(t, policy, pk), PrevEvents: []string{"$p"}, AuthEvents: []string{"$a"}, Depth: 2, OriginServerTS: 1}
		ev, err := b.Build(roomversion.MustGet("12"), origin, key(t, "a", 1))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	joined := func(s string) bool { return s == policy }
	nobody := func(string) bool { return false }
	if cfg, ok := Enabled(policyEvent(&empty), joined); !ok || cfg.Via != policy {
		t.Errorf("a valid m.room.policy with a joined server is not enabled")
	}
	if _, ok := Enabled(policyEvent(&empty), nobody); ok {
		t.Errorf("enabled without a joined user of the Policy Server")
	}
	if _, ok := Enabled(policyEvent(&other), joined); ok {
		t.Errorf("enabled by an m.room.policy with a non-empty state key")
	}
	if _, ok := Enabled(nil, joined); ok {
		t.Errorf("enabled without m.room.policy")
	}
}

// Every event needs the signature but the m.room.policy state event with
// an empty state key (server-server-api "Validating Policy Server
// signatures").
func TestNeedsSignature_AllButThePolicyStateEvent(t *testing.T) {
	k := key(t, "a", 1)
	empty, other := "", "x"
	for _, tc := range []struct {
		typ   string
		sk    *string
		needs bool
	}{
		{EventType, &empty, false},
		{EventType, &other, true},
		{EventType, nil, true},
		{"m.room.member", &empty, true},
		{"m.room.power_levels", &empty, true},
		{"m.room.message", nil, true},
	} {
		if got := NeedsSignature(build(t, origin, k, tc.typ, tc.sk)); got != tc.needs {
			t.Errorf("%s (state key %v): needs = %v, want %v", tc.typ, tc.sk != nil, got, tc.needs)
		}
	}
}

// The signature is checked with the key from m.room.policy, under
// ed25519:policy_server, over the redacted event; adding it keeps the
// origin's signature even when the Policy Server has the origin's name
// (server-server-api "Policy Servers", v1.19).
func TestVerifyAndAddSignature(t *testing.T) {
	serverKey := key(t, "srv", 1)
	pk := key(t, "policy_server", 2)
	for _, tc := range []struct{ name, via string }{{"distinct names", policy}, {"Policy Server is the origin", origin}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := ParseContent(policyContent(t, tc.via, pk))
			if !ok {
				t.Fatal("content not valid")
			}
			ev := build(t, origin, serverKey, "m.room.message", nil)
			if err := Verify(ev, cfg); !errors.Is(err, ErrNoSignature) {
				t.Fatalf("unsigned event: err = %v, want ErrNoSignature", err)
			}
			// What a Policy Server answers: its signature alone.
			bySigner, err := ev.AddSignature(tc.via, pk)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := json.Marshal(map[string]any{tc.via: map[string]string{string(KeyID): bySigner.Signatures()[tc.via][KeyID]}})
			sig, err := ParseSignResponse(answer, tc.via)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := AddSignature(ev, cfg, sig)
			if err != nil {
				t.Fatalf("AddSignature: %v", err)
			}
			if signed.EventID() != ev.EventID() {
				t.Errorf("the event ID changed")
			}
			if got := signed.Signatures()[origin][serverKey.ID]; got == "" || got != ev.Signatures()[origin][serverKey.ID] {
				t.Errorf("the origin's signature was not kept: %v", signed.Signatures())
			}
			if err := Verify(signed, cfg); err != nil {
				t.Errorf("Verify: %v", err)
			}
			// Another key does not verify.
			wrong, _ := ParseContent(policyContent(t, tc.via, key(t, "policy_server", 3)))
			if err := Verify(signed, wrong); !errors.Is(err, ErrBadSignature) {
				t.Errorf("wrong key: err = %v, want ErrBadSignature", err)
			}
			if _, err := AddSignature(ev, wrong, sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("AddSignature with a wrong key: err = %v", err)
			}
		})
	}
}

// ParseSignResponse takes only the Policy Server's own signature.
func TestParseSignResponse_Shapes(t *testing.T) {
	good := `"zLFxllD0pbBuBpfHh8NuHNaICpReF/PAOpUQTsw+bFGKiGfDNAsnhcP7pbrmhhpfbOAxIdLraQLeeiXBryLmBw"`
	for _, tc := range []struct {
		body string
		want error
	}{
		{`{"policy.example":{"ed25519:policy_server":` + good + `}}`, nil},
		{`{"policy.example":{"ed25519:policy_server":` + good + `},"origin.example":{"ed25519:a":"AAAA"}}`, nil},
		{`{}`, ErrNoSignature},
		{`{"other.example":{"ed25519:policy_server":` + good + `}}`, ErrNoSignature},
		{`{"policy.example":{"ed25519:other":` + good + `}}`, ErrNoSignature},
		{`{"policy.example":{"ed25519:policy_server":1}}`, ErrBadResponse},
		{`{"policy.example":{"ed25519:policy_server":"not base64!"}}`, ErrBadResponse},
		{`{"policy.example":[]}`, ErrBadResponse},
		{`[]`, ErrBadResponse},
		{`{"a":1,"a":2}`, ErrBadResponse},
		{`not json`, ErrBadResponse},
	} {
		_, err := ParseSignResponse([]byte(tc.body), policy)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.body, err, tc.want)
		}
	}
}

// FuzzParse: ParseContent and ParseSignResponse never panic, and a
// signature ParseSignResponse returns is base64.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"via":"policy.example","public_keys":{"ed25519":"6yhHGKhCiXTSEN2ksjV7kX_N6rBQZ3Xb-M7LlC6NS-s"}}`))
	f.Add([]byte(`{"policy.example":{"ed25519:policy_server":"zLFxllD0pbBuBpfHh8NuHNaICpReF/PAOpUQTsw+bFGKiGfDNAsnhcP7pbrmhhpfbOAxIdLraQLeeiXBryLmBw"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if cfg, ok := ParseContent(data); ok && cfg.Via == "" {
			t.Fatalf("accepted an empty via: %s", data)
		}
		sig, err := ParseSignResponse(data, policy)
		if err == nil {
			if _, err := signing.DecodeBase64(sig); err != nil {
				t.Fatalf("returned a signature that is not base64: %q", sig)
			}
		}
	})
}
