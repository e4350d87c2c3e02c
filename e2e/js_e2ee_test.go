package e2e

import "testing"

// End-to-end encryption as Element does it: matrix-js-sdk with its Rust
// crypto (matrix-sdk-crypto's WebAssembly build; matrix-js-sdk 36.2.0 and
// matrix-sdk-crypto-wasm 13.0.0 from the lock file run on Node.js 20).
// Two users set up cross-signing with password UIA, share an encrypted
// room, and each decrypts the other's message: device keys, one-time key
// claims, Olm to-device room keys and Megolm events all go through Myelin.
// Each sees the other's device signed by its owner's cross-signing key.
// The steps live in jsclient/e2ee.mjs.
func TestJSClient_EndToEndEncryptionWithRustCrypto(t *testing.T) {
	t.Parallel()
	runJSSession(t, "e2ee.mjs")
}
