package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// logTailLines is how much of the server log a failing test prints.
const logTailLines = 80

func TestMain(m *testing.M) {
	m.Run()
	harness.RemoveBuild()
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
	// extraYAML is appended to the configuration last (later top-level
	// keys replace earlier ones).
	extraYAML string
}

// server is one homeserver directory (config, keys, database) and the
// myelin process currently serving it, if any. It is used from the test's
// goroutine only, except for url and httpc, which never change.
type server struct {
	t          *testing.T
	bin        string
	configPath string
	url        string // http://127.0.0.1:PORT, no trailing slash
	httpc      *http.Client
	transport  *http.Transport
	proc       *harness.Process
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
	bin := harness.Build(t)
	dir := t.TempDir()
	port := harness.FreePort(t, "127.0.0.1")
	s := &server{
		t:          t,
		bin:        bin,
		configPath: filepath.Join(dir, "homeserver.yaml"),
		url:        "http://127.0.0.1:" + strconv.Itoa(port),
	}
	s.transport = &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	s.httpc = &http.Client{Transport: s.transport, Timeout: 90 * time.Second}
	s.proc = &harness.Process{
		Bin:       bin,
		Configs:   []string{s.configPath},
		Dir:       dir,
		LogPath:   filepath.Join(dir, "server.log"),
		Ready:     []string{s.url + "/_matrix/client/versions"},
		Transport: s.transport,
	}

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
		"  failed_attempts: {per_second: 1000, burst_count: 1000}\n" +
		"rc_room_creation: {per_second: 1000, burst_count: 1000}\n" +
		"rc_joins: {local: {per_second: 1000, burst_count: 1000}, remote: {per_second: 1000, burst_count: 1000}}\n" +
		"rc_joins_per_room: {per_second: 1000, burst_count: 1000}\n" +
		"rc_invites: {per_room: {per_second: 1000, burst_count: 1000}, per_user: {per_second: 1000, burst_count: 1000}, per_issuer: {per_second: 1000, burst_count: 1000}}\n" +
		"rc_federation: {window_size: 1000, sleep_limit: 10000, sleep_delay: 0, reject_limit: 10000, concurrent: 1000}\n"
	if be.name == "postgres" {
		dsn := createPostgresDB(t, be.adminDSN)
		extra += fmt.Sprintf("database:\n  name: psycopg2\n  args: {dsn: %s}\n", harness.YAMLString(dsn))
	}
	extra += opts.extraYAML
	generated, err := os.ReadFile(s.configPath)
	if err != nil {
		t.Fatal(err)
	}
	// Request lines are logged at debug, and a failing test quotes them:
	// the generated myelin block is edited in place, since a second
	// myelin key in the file would be a duplicate.
	const info, debug = "\n  log_level: info\n", "\n  log_level: debug\n"
	if !bytes.Contains(generated, []byte(info)) {
		t.Fatalf("the generated config has no %q to raise to debug", strings.TrimSpace(info))
	}
	generated = bytes.Replace(generated, []byte(info), []byte(debug), 1)
	if err := os.WriteFile(s.configPath, append(generated, extra...), 0o600); err != nil {
		t.Fatal(err)
	}

	// Registered after the database drop, so it runs before it.
	t.Cleanup(s.cleanup)
	return s
}

// cleanup kills a server still running and shows its log when the test
// failed (or always, with MYELIN_TEST_LOG set).
func (s *server) cleanup() {
	s.kill()
	s.transport.CloseIdleConnections()
	s.proc.ReportLog(s.t, "server", logTailLines)
}

// start runs "myelin serve" and waits until it answers /versions.
func (s *server) start() {
	s.t.Helper()
	if err := s.proc.Start(); err != nil {
		s.t.Fatal(err) // cleanup prints the log's tail
	}
}

// stop sends SIGTERM and checks that the server exits with status 0 within
// harness.StopBound; otherwise the test fails and the process is killed.
func (s *server) stop() {
	t := s.t
	t.Helper()
	if err := s.proc.Stop(); errors.Is(err, harness.ErrNotRunning) {
		t.Fatal(err)
	} else if err != nil {
		t.Error(err)
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (s *server) kill() {
	s.t.Helper()
	if err := s.proc.Kill(); err != nil {
		s.t.Error(err)
	}
}

// restart stops the server gracefully and starts it again on the same
// directory and port.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// logLinesContaining returns the server log lines containing any of subs,
// to quote the server's side of a failed request.
func (s *server) logLinesContaining(subs ...string) string {
	return s.proc.LogLinesContaining(subs...)
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
