package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
)

// Device IDs are opaque text; the device's key ID is "ed25519:<device ID>"
// whatever characters the ID holds.
func TestVerifyDeviceJSON_AnyDeviceID(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const device = "phone-1.é"
	body, _ := canonicaljson.Marshal(map[string]any{"device_id": device, "user_id": "@a:hs"})
	sig := EncodeBase64(ed25519.Sign(priv, body))
	signed, _ := canonicaljson.Marshal(map[string]any{"device_id": device, "user_id": "@a:hs",
		"signatures": map[string]any{"@a:hs": map[string]any{"ed25519:" + device: sig}}, "unsigned": map[string]any{"x": 1}})
	if err := VerifyDeviceJSON(signed, "@a:hs", device, pub); err != nil {
		t.Fatal(err)
	}
	if err := VerifyDeviceJSON(signed, "@b:hs", device, pub); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("other entity: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if err := VerifyDeviceJSON(signed, "@a:hs", device, other); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
}
