package fede2e

import (
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// jsBound caps one matrix-js-sdk session across two servers, the script's
// own deadline included.
const jsBound = 4 * time.Minute

// End-to-end encryption across two servers as Element does it:
// matrix-js-sdk with its Rust crypto (the lock file of e2e/jsclient pins
// matrix-js-sdk and matrix-sdk-crypto-wasm) as Alice on hs1 and Bob on
// hs2. They set up cross-signing, share an encrypted room, and each
// decrypts every message of the other: Bob's device keys and one-time keys
// come through hs1's /user/keys/query and /user/keys/claim, room keys
// travel as m.direct_to_device EDUs, and each sees the other's device
// signed by its owner. The steps live in e2e/jsclient/e2ee.mjs.
func TestFederation_JSClientEncryptedRoomAcrossServers(t *testing.T) {
	t.Parallel()
	runJSAcrossServers(t, "e2ee.mjs")
}

// A user's further devices across two servers: Alice (hs1) sets up
// recovery and key backup, a second device of hers cross-signs itself from
// secret storage and Bob's client on hs2 sees it signed by her (the
// signature reaches hs2 as a device-list update), the new device decrypts
// what Bob sends after it joined, and a fresh login restores the backup
// and decrypts old history read through /messages. The steps live in
// e2e/jsclient/e2ee_devices.mjs.
func TestFederation_JSClientNewDevicesAndKeyBackupAcrossServers(t *testing.T) {
	t.Parallel()
	runJSAcrossServers(t, "e2ee_devices.mjs")
}

// runJSAcrossServers runs a matrix-js-sdk script of e2e/jsclient with its
// first user on hs1 and its second on hs2. Node.js trusts the test CA
// through NODE_EXTRA_CA_CERTS.
func runJSAcrossServers(t *testing.T, script string) {
	node, dir := harness.NodeWithModule(t, "../jsclient", "matrix-js-sdk")
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	out, err := harness.RunNode(t, node, dir, jsBound, []string{"NODE_EXTRA_CA_CERTS=" + c.ca.PEMPath}, script,
		"--homeserver", hs1.url, "--user1", alice.userID, "--password1", password,
		"--homeserver2", hs2.url, "--user2", bob.userID, "--password2", password,
		"--deadline", "180")
	if err != nil {
		t.Fatalf("matrix-js-sdk %s failed (%v):\n%s", script, err, out)
	}
	t.Logf("matrix-js-sdk %s:\n%s", script, out)
}
