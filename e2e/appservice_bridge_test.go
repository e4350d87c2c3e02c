package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// jsBridgeBound caps one run of the appservice-js bridge.
const jsBridgeBound = 3 * time.Minute

// A small bridge built on matrix-appservice (the application service
// framework of matrix-appservice-bridge, which no one here wrote) and
// matrix-js-sdk works against Myelin: it registers its puppet with
// m.login.application_service, the puppet (masqueraded with user_id)
// creates a room and invites a real user, the bridge receives the user's
// message in a transaction, answers as the puppet, and receives the user's
// typing through ephemeral pushing. The steps live in
// appservice-js/bridge.mjs.
func TestAppserviceJS_BridgeRegistersPuppetsAndReceivesTransactions(t *testing.T) {
	t.Parallel()
	node, dir := harness.NodeWithModule(t, "appservice-js", "matrix-appservice")
	forEachBackend(t, func(t *testing.T, be backend) {
		port := harness.FreePort(t, "127.0.0.1")
		reg := registration{url: "http://127.0.0.1:" + strconv.Itoa(port), asToken: "as-token-" + newTxnID(),
			hsToken: "hs-token-" + newTxnID(), senderLocalpart: "bridgebot", exclusive: true}
		s := startServer(t, be, options{extraYAML: reg.write(t)})
		const alicePassword = "alice's bridge password"
		s.registerUser("alice", alicePassword)

		ctx, cancel := context.WithTimeout(t.Context(), jsBridgeBound)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "bridge.mjs",
			"--homeserver", s.url, "--port", strconv.Itoa(port),
			"--hs-token", reg.hsToken, "--as-token", reg.asToken,
			"--bot", "@bridgebot:localhost", "--puppet", "@irc_bob:localhost",
			"--user", "@alice:localhost", "--password", alicePassword,
			"--deadline", "120")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			s.proc.ReportLog(t, "server", logTailLines)
			t.Fatalf("appservice-js bridge failed (%v):\n%s", err, out)
		}
		t.Logf("appservice-js bridge:\n%s", out)
	})
}
