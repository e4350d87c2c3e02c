package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NodeWithModule finds node and the directory dir (relative to the test's
// package directory) with module in its node_modules, which .ci/run
// installs with npm ci from the committed lock file, and returns node's
// path and dir's absolute path. Without them the test is skipped loudly,
// or fails under CI=true.
func NodeWithModule(t testing.TB, dir, module string) (node, abs string) {
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
		missing = abs + "/node_modules is missing (run: npm ci --prefix e2e/" + filepath.Base(abs) + ")"
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

// RunNode runs "node script args..." in dir, with env added to the test's
// environment, and returns its combined output; past bound the script is
// killed and the error says so.
func RunNode(t testing.TB, node, dir string, bound time.Duration, env []string, script string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %v)", err, bound)
	}
	return out, err
}
