package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// The container image is the release binary on an empty base (no libc, no
// shell), run as a non-root user: the binary must be static, and must
// generate its config on first start and serve from nothing but /data.
// The suite's binary is built with the image's script (harness.Build);
// the test runs it chrooted into an empty directory as the image's user.
// (Building the image itself needs a Docker daemon, which test machines
// do not have.)
func TestPackaging_StaticBinaryServesFromAnEmptyRoot(t *testing.T) {
	t.Parallel()
	bin := harness.Build(t)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("the release binary names a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("the release binary links shared libraries: %v", libs)
	}
	f.Close()

	if os.Geteuid() != 0 {
		t.Skip("running in an empty root needs chroot, which needs root")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	const uid = 65532 // the image's USER
	for _, dir := range []string{"usr/local/bin", "data"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(root, "data"), uid, uid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/myelin"), b, 0o755); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command("/usr/local/bin/myelin", "container")
	cmd.Env = []string{"SERVER_NAME=localhost", fmt.Sprintf("HTTP_PORT=%d", port)}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chrooted server did not answer /health within 30 s (last error: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get(url + "/_matrix/client/versions")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_matrix/client/versions: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, name := range []string{"homeserver.yaml", "localhost.signing.key"} {
		if _, err := os.Stat(filepath.Join(root, "data", name)); err != nil {
			t.Errorf("first start did not write /data/%s: %v", name, err)
		}
	}
	if !strings.Contains(logs.String(), "Wrote /data/homeserver.yaml") {
		t.Errorf("first start did not say it generated the config:\n%s", logs.String())
	}
}

// The systemd unit in contrib/ passes systemd's own checks (with the
// release binary at the path it names).
func TestPackaging_SystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../contrib/systemd/myelin.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := harness.Build(t)
	tmp := filepath.Join(t.TempDir(), "myelin.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(unit, []byte("/usr/local/bin/myelin"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", tmp).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// One version string everywhere (the operators' issue): what "myelin
// version" prints is what other servers see on /_matrix/federation/v1/version,
// what admins see on server_version, and what the start-up log line says,
// with the server name and database beside it.
func TestPackaging_OneVersionEverywhere(t *testing.T) {
	t.Parallel()
	s := startServer(t, backend{name: "sqlite"}, options{})
	out, err := exec.Command(s.bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(out)) // "myelin <version> (...)"
	if len(fields) < 2 {
		t.Fatalf("myelin version printed %q", out)
	}
	want := fields[1]

	var fed struct {
		Server struct{ Name, Version string } `json:"server"`
	}
	s.anonymous().must(t, "GET", "/_matrix/federation/v1/version", nil, &fed)
	if fed.Server.Name != "Myelin" || fed.Server.Version != want {
		t.Errorf("federation /version = %+v, want Myelin %s", fed.Server, want)
	}
	var adm struct {
		ServerVersion string `json:"server_version"`
	}
	s.anonymous().must(t, "GET", "/_synapse/admin/v1/server_version", nil, &adm)
	if adm.ServerVersion != want {
		t.Errorf("server_version = %q, want %q", adm.ServerVersion, want)
	}
	line := s.logLinesContaining("starting myelin")
	for _, part := range []string{"version=" + want, "server_name=localhost", "database="} {
		if !strings.Contains(line, part) {
			t.Errorf("start-up log line %q lacks %q", line, part)
		}
	}
}
