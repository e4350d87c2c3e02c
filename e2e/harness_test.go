package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on waits. They only stop a broken run from hanging; no test
// asserts how fast anything is.
const (
	// startBound is how long a starting server may take to answer
	// /versions (migrations on a fresh PostgreSQL database included).
	startBound = 60 * time.Second
	// stopBound is how long a server may take to exit after SIGTERM. The
	// server gives in-flight requests 30 s (internal/server.Run), so this
	// leaves room for that and for closing the database.
	stopBound = 60 * time.Second
	// killBound is how long the kernel may take to reap a SIGKILLed server.
	killBound = 15 * time.Second
	// logTailLines is how much of the server log a failing test prints.
	logTailLines = 80
)

// binDir holds the binary built for this run of the package.
var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "myelin-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// myelinBinary builds ./cmd/myelin once per test run and returns its path.
// Under -short the calling test is skipped: these tests build and run the
// real server.
func myelinBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped under -short (builds and runs the real server)")
	}
	buildOnce.Do(func() {
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "myelin")
		// go test puts its own toolchain first on PATH.
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/myelin")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/myelin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// backend is the database a scenario runs on.
type backend struct {
	name     string // "sqlite" or "postgres"
	adminDSN string // postgres: a DSN for a role that may CREATE DATABASE
}

// forEachBackend runs fn as parallel subtests "sqlite" and "postgres". The
// postgres one is skipped without MYELIN_TEST_POSTGRES, or fails when
// MYELIN_REQUIRE_POSTGRES=1 (as scripts/test.sh and CI set it).
func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, backend{name: "sqlite"})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := os.Getenv("MYELIN_TEST_POSTGRES")
		if dsn == "" {
			if os.Getenv("MYELIN_REQUIRE_POSTGRES") == "1" {
				t.Fatal("MYELIN_REQUIRE_POSTGRES=1 but MYELIN_TEST_POSTGRES is not set")
			}
			t.Skip("MYELIN_TEST_POSTGRES is not set; skipping the PostgreSQL run (./scripts/test.sh starts a throwaway server)")
		}
		fn(t, backend{name: "postgres", adminDSN: dsn})
	})
}

// options adjust the generated configuration.
type options struct {
	// openRegistration passes --open-registration to generate-config, so
	// clients may register through /register.
	openRegistration bool
}

// server is one homeserver directory (config, keys, database) and the
// myelin process currently serving it, if any. It is used from the test's
// goroutine only, except for url and httpc, which never change.
type server struct {
	t          *testing.T
	bin        string
	dir        string
	configPath string
	logPath    string
	url        string // http://127.0.0.1:PORT, no trailing slash
	httpc      *http.Client
	transport  *http.Transport

	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error         // cmd.Wait's result, valid after done is closed
	starts  int
}

// startServer configures a new server on be and starts it. The process is
// killed, and a PostgreSQL database dropped, when the test ends.
func startServer(t *testing.T, be backend, opts options) *server {
	t.Helper()
	s := newServer(t, be, opts)
	s.start()
	return s
}

// newServer writes the configuration with "myelin generate-config" and
// the test settings, without starting the server.
func newServer(t *testing.T, be backend, opts options) *server {
	t.Helper()
	bin := myelinBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	s := &server{
		t:          t,
		bin:        bin,
		dir:        dir,
		configPath: filepath.Join(dir, "homeserver.yaml"),
		logPath:    filepath.Join(dir, "server.log"),
		url:        "http://127.0.0.1:" + strconv.Itoa(port),
	}
	s.transport = &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	s.httpc = &http.Client{Transport: s.transport, Timeout: 90 * time.Second}

	args := []string{"generate-config",
		"--server-name", "localhost",
		"--config-path", s.configPath,
		"--data-dir", filepath.Join(dir, "data"),
		"--report-stats", "no",
		"--listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1",
		"--public-baseurl", s.url + "/",
	}
	if opts.openRegistration {
		args = append(args, "--open-registration")
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("myelin %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// Later keys replace earlier ones (config.Load), so the appended
	// database block overrides the generated SQLite one.
	extra := "\n# ---- appended by the e2e harness ----\n" +
		"bcrypt_rounds: 4\n" +
		"rc_message: {per_second: 1000, burst_count: 1000}\n" +
		"rc_registration: {per_second: 1000, burst_count: 1000}\n" +
		"rc_login:\n" +
		"  address: {per_second: 1000, burst_count: 1000}\n" +
		"  account: {per_second: 1000, burst_count: 1000}\n" +
		"  failed_attempts: {per_second: 1000, burst_count: 1000}\n"
	if be.name == "postgres" {
		dsn := createPostgresDB(t, be.adminDSN)
		extra += fmt.Sprintf("database:\n  name: psycopg2\n  args: {dsn: %s}\n", yamlString(dsn))
	}
	if os.Getenv("MYELIN_TEST_LOG") != "" {
		extra += "myelin: {log_format: text, log_level: debug}\n"
	}
	f, err := os.OpenFile(s.configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Registered after the database drop, so it runs before it.
	t.Cleanup(s.cleanup)
	return s
}

// cleanup kills a server still running and shows its log when the test
// failed (or always, with MYELIN_TEST_LOG set).
func (s *server) cleanup() {
	if s.running() {
		s.kill()
	}
	s.transport.CloseIdleConnections()
	if os.Getenv("MYELIN_TEST_LOG") != "" {
		data, _ := os.ReadFile(s.logPath)
		s.t.Logf("server log %s:\n%s", s.logPath, data)
	} else if s.t.Failed() {
		s.t.Logf("last %d lines of the server log %s:\n%s", logTailLines, s.logPath, s.logTail(logTailLines))
	}
}

// start runs "myelin serve" and waits until it answers /versions.
func (s *server) start() {
	t := s.t
	t.Helper()
	if s.running() {
		t.Fatal("e2e: start called on a running server")
	}
	s.starts++
	logf, err := os.OpenFile(s.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "\n===== e2e: myelin serve, start #%d =====\n", s.starts)
	cmd := exec.Command(s.bin, "serve", "-c", s.configPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.dir
	err = cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		t.Fatalf("starting myelin serve: %v", err)
	}
	s.cmd, s.done, s.exitErr = cmd, make(chan struct{}), nil
	done := s.done
	go func() {
		s.exitErr = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(startBound)
	probe := &http.Client{Transport: s.transport, Timeout: 5 * time.Second}
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			// cleanup prints the log's tail.
			t.Fatalf("myelin serve (start #%d) exited before answering /versions: %v", s.starts, s.exitErr)
		default:
		}
		resp, err := probe.Get(s.url + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("myelin serve (start #%d) did not answer GET /_matrix/client/versions within %v (last: %v)", s.starts, startBound, lastErr)
}

// running reports whether the process is alive (not yet reaped).
func (s *server) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and checks that the server exits with status 0 within
// stopBound; otherwise the test fails and the process is killed.
func (s *server) stop() {
	t := s.t
	t.Helper()
	if !s.running() {
		t.Fatalf("e2e: stop called but the server is not running (exit: %v)", s.exitErr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(stopBound):
		t.Errorf("myelin serve did not exit within %v of SIGTERM; sending SIGKILL", stopBound)
		s.kill()
		return
	}
	s.transport.CloseIdleConnections()
	if s.exitErr != nil {
		t.Errorf("myelin serve did not exit cleanly after SIGTERM: %v", s.exitErr)
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (s *server) kill() {
	t := s.t
	t.Helper()
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(killBound):
		t.Errorf("myelin serve (pid %d) still not reaped %v after SIGKILL", s.cmd.Process.Pid, killBound)
	}
	s.transport.CloseIdleConnections()
}

// restart stops the server gracefully and starts it again on the same
// directory and port.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// logTail returns the last n lines of the server log.
func (s *server) logTail(n int) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// logLinesContaining returns the server log lines containing any of subs,
// to quote the server's side of a failed request.
func (s *server) logLinesContaining(subs ...string) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, sub := range subs {
			if sub != "" && strings.Contains(line, sub) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) > 40 {
		out = out[len(out)-40:]
	}
	return strings.Join(out, "\n")
}

// registerUser creates localpart with "myelin register-user" against the
// running server (Synapse's shared-secret registration) and returns the
// command's output.
func (s *server) registerUser(localpart, password string) string {
	t := s.t
	t.Helper()
	out, err := s.runRegisterUser(localpart, password)
	if err != nil {
		t.Fatalf("myelin register-user -u %s: %v\n%s", localpart, err, out)
	}
	return out
}

// runRegisterUser runs "myelin register-user" and returns its combined
// output and error.
func (s *server) runRegisterUser(localpart, password string) (string, error) {
	cmd := exec.Command(s.bin, "register-user", "-c", s.configPath, "-u", localpart, "-p", password, "--no-admin", s.url)
	cmd.Stdin = strings.NewReader("") // never wait for a prompt
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("exit status %d", exit.ExitCode())
	}
	return string(out), err
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another
// process could take it before the server binds it; the server's log then
// says so.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// yamlString quotes s as a YAML double-quoted scalar (a JSON string is one).
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
