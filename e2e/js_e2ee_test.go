package e2e

import (
	"context"
	"os/exec"
	"testing"
)

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
	node, dir := nodeWithJSSDK(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, options{})
		const alicePassword, bobPassword = "alice's e2ee password", "bob's e2ee password"
		s.registerUser("alice", alicePassword)
		s.registerUser("bob", bobPassword)

		ctx, cancel := context.WithTimeout(t.Context(), jsBound)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "e2ee.mjs",
			"--homeserver", s.url,
			"--user1", "@alice:localhost", "--password1", alicePassword,
			"--user2", "@bob:localhost", "--password2", bobPassword,
			"--deadline", "120")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			s.proc.ReportLog(t, "server", logTailLines)
			t.Fatalf("matrix-js-sdk e2ee session failed (%v):\n%s", err, out)
		}
		t.Logf("matrix-js-sdk e2ee session:\n%s", out)
	})
}
