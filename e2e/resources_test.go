//go:build linux

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds on the waits below. They stop a broken run from hanging; none
// asserts how fast the server is.
const (
	// cutOffBound is how long a slow-body client may wait for the server
	// to give up on it, far beyond the 1 s request_body_timeout set here.
	cutOffBound = 30 * time.Second
	// serveBound is how long a well-behaved client may wait for /versions
	// while another address floods the server.
	serveBound = 20 * time.Second
)

// resourceServer starts a server with the given myelin: block. Storage
// plays no part in these tests, so they run on SQLite only.
func resourceServer(t *testing.T, myelinBlock string) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	return startServer(t, backend{name: "sqlite"}, options{extraYAML: "myelin: " + myelinBlock + "\n"})
}

// hostPort is the server's listening address.
func (s *server) hostPort() string { return strings.TrimPrefix(s.url, "http://") }

// dialFrom connects to the server from a given loopback source address
// (all of 127.0.0.0/8 is loopback on Linux).
func (s *server) dialFrom(t testing.TB, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.hostPort())
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getVersionsFrom asks for /versions over a new connection from src and
// returns the status, or an error when no answer came within serveBound.
func (s *server) getVersionsFrom(src string) (int, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: serveBound}
	c, err := d.Dial("tcp", s.hostPort())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(serveBound))
	if _, err := fmt.Fprintf(c, "GET /_matrix/client/versions HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", s.hostPort()); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A client that sends its headers and then trickles a chunked body is
// cut off once request_body_timeout has passed (issue 10 item 6): it gets
// 408 and the connection is closed, instead of holding a goroutine and a
// descriptor for as long as it likes.
func TestResources_SlowBodyIsCutOff(t *testing.T) {
	s := resourceServer(t, "{request_body_timeout: 1s}")
	c := s.dialFrom(t, "127.0.0.1")
	if _, err := fmt.Fprintf(c, "POST /_matrix/client/v3/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", s.hostPort()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				// One byte of whitespace per chunk: valid, and never done.
				if _, err := io.WriteString(c, "1\r\n \r\n"); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	_ = c.SetReadDeadline(time.Now().Add(cutOffBound))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a body trickled for %v: %v", cutOffBound, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if rest, err := io.ReadAll(br); err != nil && !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("after the 408 the connection should be closed; read gave %q, %v", rest, err)
	}
}

// The body deadline applies to bodies only: a long-polling /sync, which
// has none, may wait longer than request_body_timeout and still answers.
func TestResources_BodyDeadlineSparesLongPolls(t *testing.T) {
	s := resourceServer(t, "{request_body_timeout: 1s}")
	alice := s.newUser(t, "alice")
	first := alice.sync(t, "", 1)
	var resp syncResponse
	x, err := alice.do(context.Background(), "GET", syncPath(first.NextBatch, 3000, 1), nil)
	if err != nil {
		t.Fatalf("a 3 s long poll: %v", err)
	}
	s.proc.RequireOK(t, x, "", &resp)
}

// One address cannot stop the server from serving others (issue 10 item
// 6): with the server's descriptors lowered to a few dozen beyond what it
// uses, 127.0.0.1 opens four times as many connections as the server has
// descriptors to spare, and a client on 127.0.0.2 is still served. Past
// max_connections_per_address the server closes 127.0.0.1's connections
// as soon as it accepts them.
func TestResources_ConnectionFloodFromOneAddressLeavesOthersServed(t *testing.T) {
	const perAddress, spare = 20, 60
	s := resourceServer(t, fmt.Sprintf("{max_connections_per_address: %d}", perAddress))
	pid := s.proc.PID()

	// The server raised its soft limit to the hard one at start.
	var lim unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != lim.Max {
		t.Errorf("open file limit: soft %d, hard %d; the server should raise the soft limit to the hard one", lim.Cur, lim.Max)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	low := unix.Rlimit{Cur: uint64(len(fds) + spare), Max: uint64(len(fds) + spare)}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}

	flood := make([]net.Conn, 4*spare)
	for i := range flood {
		flood[i] = s.dialFrom(t, "127.0.0.1")
		// Headers begun and never finished: a slowloris.
		if _, err := io.WriteString(flood[i], "GET /_matrix/client/versions HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	status, err := s.getVersionsFrom("127.0.0.2")
	if err != nil || status != http.StatusOK {
		t.Fatalf("a client on 127.0.0.2 during the flood: status %d, %v", status, err)
	}

	// Every connection past the cap was closed by the server.
	var closed sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for _, c := range flood {
		closed.Add(1)
		go func() {
			defer closed.Done()
			_ = c.SetReadDeadline(time.Now().Add(serveBound))
			if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	closed.Wait()
	if n < len(flood)-perAddress {
		t.Errorf("%d of %d flooding connections were closed; want all but at most %d", n, len(flood), perAddress)
	}
}
