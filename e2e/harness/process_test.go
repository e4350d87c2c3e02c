package harness

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeServe writes a stand-in for the myelin binary: a shell script that
// runs script whatever its arguments ("serve -c …").
func fakeServe(t *testing.T, script string) *Process {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "myelin")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho started with \"$@\"\n"+script+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := &Process{Label: "hs1", Bin: bin, Configs: []string{"a.yaml", "b.yaml"}, Dir: dir, LogPath: filepath.Join(dir, "server.log")}
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

// A server that exits 0 on SIGTERM stops cleanly, and starts again; the
// log holds both starts and the serve command line with every config file
// in order. Start waits for the Ready URLs, here answering once the script
// has set its trap.
func TestProcess_StartStopRestart(t *testing.T) {
	p := fakeServe(t, "trap 'exit 0' TERM\ntouch trapped\nwhile :; do sleep 0.05; done")
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(filepath.Join(p.Dir, "trapped")); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ready.Close()
	p.Ready = []string{ready.URL + "/one", ready.URL + "/two"}
	for range 2 {
		os.Remove(filepath.Join(p.Dir, "trapped"))
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if !p.Running() {
			t.Fatal("not running after Start")
		}
		if err := p.Stop(); err != nil {
			t.Fatalf("Stop: %v\nlog:\n%s", err, p.LogTail(20))
		}
		if p.Running() || p.ExitError() != nil {
			t.Fatalf("after Stop: running=%v exit=%v", p.Running(), p.ExitError())
		}
	}
	log := p.LogTail(20)
	for _, want := range []string{"start #1", "start #2", "started with serve -c a.yaml -c b.yaml"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestProcess_StopWithoutAProcessIsErrNotRunning(t *testing.T) {
	p := fakeServe(t, "exit 0")
	if err := p.Stop(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop before Start = %v, want ErrNotRunning", err)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("Kill before Start = %v, want nil", err)
	}
}

// A server killed by SIGTERM's default action did not exit cleanly.
func TestProcess_StopReportsAnUncleanExit(t *testing.T) {
	p := fakeServe(t, "exec sleep 60")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	err := p.Stop()
	if err == nil || !strings.Contains(err.Error(), "hs1: myelin serve did not exit cleanly after SIGTERM") {
		t.Errorf("Stop = %v", err)
	}
}

func TestProcess_KillReapsTheProcess(t *testing.T) {
	p := fakeServe(t, "trap '' TERM\nexec sleep 60")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() || p.ExitError() == nil {
		t.Errorf("after Kill: running=%v exit=%v", p.Running(), p.ExitError())
	}
	if err := p.Start(); err != nil {
		t.Fatalf("start after a kill: %v", err)
	}
}

func TestProcess_StartFailsWhenTheServerExitsBeforeReady(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	url := gone.URL + "/_matrix/client/versions"
	gone.Close()
	p := fakeServe(t, "echo config is broken; exit 1")
	p.Ready = []string{url}
	err := p.Start()
	if err == nil || !strings.Contains(err.Error(), "hs1: myelin serve (start #1) exited before answering "+url) {
		t.Errorf("Start = %v", err)
	}
	if !strings.Contains(p.LogTail(5), "config is broken") {
		t.Errorf("the log lacks the server's output:\n%s", p.LogTail(5))
	}
}

func TestProcess_StartTwiceFails(t *testing.T) {
	p := fakeServe(t, "exec sleep 60")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "start called on a running server") {
		t.Errorf("second Start = %v", err)
	}
}
