package e2e

import "testing"

// End-to-end encryption as Element does it: matrix-js-sdk with its Rust
// crypto (matrix-sdk-crypto's WebAssembly build; matrix-js-sdk 36.2.0 and
// matrix-sdk-crypto-wasm 13.0.0 from the lock file run on Node.js 20).
// Two users set up cross-signing with password UIA, share an encrypted
// room, and each decrypts every message of the other: device keys,
// one-time key claims, Olm to-device room keys and Megolm events all go
// through Myelin. Each sees the other's device signed by its owner's
// cross-signing key. The steps live in jsclient/e2ee.mjs;
// e2e/federation/js_e2ee_test.go runs them across two servers.
func TestJSClient_EndToEndEncryptionWithRustCrypto(t *testing.T) {
	t.Parallel()
	runJSSession(t, "e2ee.mjs")
}

// A user's further devices as Element sets them up: recovery (secret
// storage in account data, a server-side key backup the client fills), a
// second device that imports the cross-signing keys from secret storage,
// signs itself (the other user sees it signed by its owner) and decrypts
// messages sent after it joined, and a fresh login that restores the
// backup with the recovery key and decrypts old history read through
// /messages. The steps live in jsclient/e2ee_devices.mjs.
func TestJSClient_NewDevicesCrossSignAndRestoreKeyBackup(t *testing.T) {
	t.Parallel()
	runJSSession(t, "e2ee_devices.mjs")
}

// Dehydrated devices (MSC3814) as Element uses them: Alice dehydrates a
// device (its key in secret storage), logs out of her only device, Bob
// sends encrypted messages (their room key goes to the dehydrated
// device), and a fresh login of Alice's rehydrates the device, reads its
// to-device messages and decrypts every message. The steps live in
// jsclient/e2ee_dehydrated.mjs.
func TestJSClient_DehydratedDeviceReceivesRoomKeysWhileLoggedOut(t *testing.T) {
	t.Parallel()
	runJSSession(t, "e2ee_dehydrated.mjs")
}
