package harness

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Stop when there is no process to stop.
var ErrNotRunning = errors.New("the server is not running")

// Process is "myelin serve" on one configuration, which a test may start
// and stop as often as it likes. Set the exported fields before the first
// Start and leave them alone afterwards. Its methods are safe to call from
// any goroutine; they return errors rather than failing a test, so that
// each suite decides what is fatal.
type Process struct {
	Label   string   // names the server in errors ("hs1"); "" when a test has only one
	Bin     string   // the binary Build made
	Configs []string // "-c" files in order; later top-level keys replace earlier ones
	Dir     string   // the working directory
	LogPath string   // stdout and stderr, appended to across starts
	// Ready are URLs that must answer 200, in this order, before Start
	// returns.
	Ready []string
	// Transport carries the readiness probes (nil: http.DefaultTransport).
	// Its idle connections are closed whenever the process has exited, so
	// that no client reuses a connection to a dead server.
	Transport *http.Transport

	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error         // cmd.Wait's result, valid once done is closed
	starts  int
}

// errorf formats an error that names the server when it has a label.
func (p *Process) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if p.Label != "" {
		err = fmt.Errorf("%s: %w", p.Label, err)
	}
	return err
}

// Start runs "myelin serve" and waits until every Ready URL answers 200,
// at most StartBound in all. It fails when the process is already
// running, exits first, or is not ready in time; the log then says why.
func (p *Process) Start() error {
	if p.Running() {
		return p.errorf("start called on a running server")
	}
	p.mu.Lock()
	p.starts++
	n := p.starts
	p.mu.Unlock()
	logf, err := os.OpenFile(p.LogPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n===== test harness: myelin serve, start #%d =====\n", n)
	args := []string{"serve"}
	for _, c := range p.Configs {
		args = append(args, "-c", c)
	}
	cmd := exec.Command(p.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = p.Dir
	err = cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		return p.errorf("starting myelin serve: %v", err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.exitErr = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()

	deadline := time.Now().Add(StartBound)
	probe := &http.Client{Timeout: 5 * time.Second}
	if p.Transport != nil {
		probe.Transport = p.Transport
	}
	var lastErr error
	for _, url := range p.Ready {
		for {
			select {
			case <-done:
				return p.errorf("myelin serve (start #%d) exited before answering %s: %v", n, url, p.ExitError())
			default:
			}
			if time.Now().After(deadline) {
				return p.errorf("myelin serve (start #%d) did not answer GET %s within %v (last: %v)", n, url, StartBound, lastErr)
			}
			resp, err := probe.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %s", resp.Status)
			}
			lastErr = err
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// ExitError is the last run's exit: nil for status 0 or while running.
func (p *Process) ExitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Running reports whether the process is alive (not yet reaped).
func (p *Process) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// PID is the running server's process ID, or 0 when none runs.
func (p *Process) PID() int {
	cmd, _, ok := p.running()
	if !ok {
		return 0
	}
	return cmd.Process.Pid
}

// running returns the process and its done channel, or ok=false.
func (p *Process) running() (cmd *exec.Cmd, done chan struct{}, ok bool) {
	if !p.Running() {
		return nil, nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done, true
}

// Stop sends SIGTERM and returns nil once the server has exited with
// status 0. A server still running StopBound later is killed and Stop
// fails; so does a non-zero exit. Without a running server it returns an
// error wrapping ErrNotRunning.
func (p *Process) Stop() error {
	cmd, done, ok := p.running()
	if !ok {
		return p.errorf("stop called but %w (exit: %v)", ErrNotRunning, p.ExitError())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return p.errorf("SIGTERM: %v", err)
	}
	select {
	case <-done:
	case <-time.After(StopBound):
		err := p.errorf("myelin serve did not exit within %v of SIGTERM; sent SIGKILL", StopBound)
		return errors.Join(err, p.Kill())
	}
	p.closeIdle()
	if err := p.ExitError(); err != nil {
		return p.errorf("myelin serve did not exit cleanly after SIGTERM: %v", err)
	}
	return nil
}

// Kill sends SIGKILL and waits up to KillBound for the process to be
// reaped. Without a running process it does nothing.
func (p *Process) Kill() error {
	cmd, done, ok := p.running()
	if !ok {
		return nil
	}
	_ = cmd.Process.Kill()
	defer p.closeIdle()
	select {
	case <-done:
		return nil
	case <-time.After(KillBound):
		return p.errorf("myelin serve (pid %d) still not reaped %v after SIGKILL", cmd.Process.Pid, KillBound)
	}
}

func (p *Process) closeIdle() {
	if p.Transport != nil {
		p.Transport.CloseIdleConnections()
	}
}
