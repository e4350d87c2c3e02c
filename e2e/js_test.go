package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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

// runJSSession runs a matrix-js-sdk script of jsclient against a fresh
// server on each backend, as two users with passwords it registers.
func runJSSession(t *testing.T, script string) {
	node, dir := nodeWithModule(t, "jsclient", "matrix-js-sdk")
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startServer(t, be, options{})
		const alicePassword, bobPassword = "alice's js password", "bob's js password"
		s.registerUser("alice", alicePassword)
		s.registerUser("bob", bobPassword)

		ctx, cancel := context.WithTimeout(t.Context(), jsBound)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script,
			"--homeserver", s.url,
			"--user1", "@alice:localhost", "--password1", alicePassword,
			"--user2", "@bob:localhost", "--password2", bobPassword,
			"--deadline", "120")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			s.proc.ReportLog(t, "server", logTailLines)
			t.Fatalf("matrix-js-sdk %s failed (%v):\n%s", script, err, out)
		}
		t.Logf("matrix-js-sdk %s:\n%s", script, out)
	})
}

// nodeWithModule finds node and the e2e directory dir with module in its
// node_modules (which .ci/run installs with npm ci from the committed lock
// file). Without them the test is skipped loudly, or fails under CI=true.
func nodeWithModule(t *testing.T, dir, module string) (node, abs string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	case !exists(filepath.Join(abs, "node_modules", module, "package.json")):
		missing = "e2e/" + dir + "/node_modules is missing (run: npm ci --prefix e2e/" + dir + ")"
	}
	if missing != "" {
		msg := "the " + module + " real-client test DID NOT RUN: " + missing
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, abs
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
