package signing

import (
	"crypto/ed25519"
	"fmt"
)

// VerifyDeviceJSON checks the signature signatures[entity]["ed25519:" +
// deviceID] on object against pub, as VerifyJSON does. A device's key ID
// names the device (end_to_end_encryption.md "Device keys"), and device IDs
// are opaque text, not the [a-zA-Z0-9_] versions of server keys, so the key
// ID is not held to that grammar.
func VerifyDeviceJSON(object []byte, entity, deviceID string, pub ed25519.PublicKey) error {
	if deviceID == "" {
		return fmt.Errorf("%w: empty device ID", ErrInvalidKeyID)
	}
	return verifyJSON(object, entity, KeyID(AlgorithmEd25519+":"+deviceID), pub)
}
