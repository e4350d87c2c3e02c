// Package harness is what the process-level test suites (e2e and
// e2e/federation) share: building cmd/myelin once per test binary, running
// "myelin serve" as a subprocess with its output in a log file, stopping
// and killing it within bounds, reading that log, and the HTTP exchange a
// test keeps for its failure messages.
//
// It imports "testing" and is meant for tests only; nothing in cmd/ or
// internal/ uses it.
package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Bounds on waits. They only stop a broken run from hanging; no test
// asserts how fast anything is.
const (
	// StartBound is how long a starting server may take to answer its
	// readiness URLs (migrations on a fresh PostgreSQL database included).
	StartBound = 60 * time.Second
	// StopBound is how long a server may take to exit after SIGTERM. The
	// server gives in-flight requests 30 s (internal/server.Run), so this
	// leaves room for that and for closing the database.
	StopBound = 60 * time.Second
	// KillBound is how long the kernel may take to reap a SIGKILLed server.
	KillBound = 15 * time.Second
)

// The binary Build makes, shared by every test of the test binary.
var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Build builds ./cmd/myelin once per test binary, with
// scripts/build-static.sh, and returns its path.
// Under -short the calling test is skipped: its suite builds and runs the
// real server. A package using Build calls RemoveBuild from TestMain.
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped under -short (builds and runs the real myelin server)")
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "myelin-e2e-bin-"); err != nil {
			buildErr = err
			return
		}
		p := filepath.Join(buildDir, "myelin")
		// The release build (static, stripped), as the Dockerfile makes
		// it: the suites test the binary operators run. go test puts its
		// own toolchain first on PATH, which the script's go finds.
		cmd := exec.Command(filepath.Join(root, "scripts", "build-static.sh"), p, "e2e")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("scripts/build-static.sh: %v\n%s", err, out)
			return
		}
		buildPath = p
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// RemoveBuild deletes the binary Build made, if it made one. Call it from
// TestMain after m.Run.
func RemoveBuild() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// moduleRoot is the nearest directory at or above the working directory
// (the test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a free TCP port on host. Another process
// could take it before the server binds it; the server's log then says so.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s (is 127.0.0.0/8 loopback here?): %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// YAMLString quotes s as a YAML double-quoted scalar (a JSON string is one).
func YAMLString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
