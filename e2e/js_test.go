package e2e

import (
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// jsBound caps one matrix-js-sdk session, the script's own deadline included.
const jsBound = 3 * time.Minute

// matrix-js-sdk, the library Element is built on and that no one here
// wrote, starts against Myelin as Element does (versions, capabilities,
// push rules, filter, first /sync), then two users chat: createRoom with an
// invite, the invite seen in /sync, a join, and a message with its sender
// and body, typing notices, a read receipt, an image uploaded by one and
// downloaded by the other through the authenticated media endpoint, an
// edit the client shows as the message's new content (live and from the
// bundled m.replace), and a thread the client's Thread model holds with
// its replies (live, and for a fresh client from /threads). The steps
// live in jsclient/session.mjs.
func TestJSClient_StartsSyncsAndChats(t *testing.T) {
	t.Parallel()
	runJSSession(t, "session.mjs")
}

// matrix-js-sdk previews a world_readable room without joining it, as a
// user and as a guest (client.peekInRoom: room initialSync, then the
// peeking /events long poll), and sees new messages arrive. The steps live
// in jsclient/peek.mjs.
func TestJSClient_PeeksIntoAWorldReadableRoom(t *testing.T) {
	t.Parallel()
	runJSSessionWith(t, "peek.mjs", options{extraYAML: "allow_guest_access: true\n"})
}

// runJSSession runs a matrix-js-sdk script of jsclient against a fresh
// server on each backend, as two users with passwords it registers.
func runJSSession(t *testing.T, script string) { runJSSessionWith(t, script, options{}) }

// runJSSessionWith is runJSSession on servers started with opts.
func runJSSessionWith(t *testing.T, script string, opts options) {
	node, dir := harness.NodeWithModule(t, "jsclient", "matrix-js-sdk")
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, opts)
		const alicePassword, bobPassword = "alice's js password", "bob's js password"
		s.registerUser("alice", alicePassword)
		s.registerUser("bob", bobPassword)

		out, err := harness.RunNode(t, node, dir, jsBound, nil, script,
			"--homeserver", s.url,
			"--user1", "@alice:localhost", "--password1", alicePassword,
			"--user2", "@bob:localhost", "--password2", bobPassword,
			"--deadline", "120")
		if err != nil {
			s.proc.ReportLog(t, "server", logTailLines)
			t.Fatalf("matrix-js-sdk %s failed (%v):\n%s", script, err, out)
		}
		t.Logf("matrix-js-sdk %s:\n%s", script, out)
	})
}
