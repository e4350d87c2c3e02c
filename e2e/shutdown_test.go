package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/e2e/harness"
)

// SIGTERM while a client long-polls /sync: the server finishes that
// request (the client gets a complete 200 answer, not a cut connection)
// and then exits cleanly.
//
// The poll asks for a timeout longer than the grace the server gives
// in-flight requests (30 s) and than the harness's stop bound, as a client
// may (the server caps it at syncapi.MaxTimeout, 5 min): so the server
// cannot pass by letting the poll run out, only by answering it when the
// shutdown begins, with whatever it has (an empty sync is a valid answer).
func TestGracefulShutdown_AnswersInFlightLongPollSync(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		const pollTimeoutMS = 90_000
		s := startServer(t, be, options{})
		alice := s.newUser(t, "alice")
		roomID := alice.createRoom(t, "shutdown")
		alice.sendText(t, roomID, "before the long poll")
		since := alice.sync(t, "", 10).NextBatch

		// Make sure the server has accepted the connection the poll will
		// use: a first request on it leaves it open (keep-alive), and the
		// poll reuses it (one connection per host).
		transport := &http.Transport{Proxy: nil, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
		defer transport.CloseIdleConnections()
		poller := &client{s: s, httpc: &http.Client{Transport: transport, Timeout: 2 * time.Minute}, token: alice.token}
		poller.must(t, "GET", "/_matrix/client/v3/account/whoami", nil, nil)

		type result struct {
			x   *harness.Exchange
			err error
		}
		written := make(chan struct{})
		var writtenOnce sync.Once
		var attempts atomic.Int32 // times the transport sent the poll
		reused := make(chan bool, 1)
		done := make(chan result, 1)
		go func() {
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GetConn: func(string) { attempts.Add(1) },
				GotConn: func(info httptrace.GotConnInfo) {
					select {
					case reused <- info.Reused:
					default:
					}
				},
				WroteRequest: func(httptrace.WroteRequestInfo) { writtenOnce.Do(func() { close(written) }) },
			})
			x, err := poller.do(ctx, "GET", syncPath(since, pollTimeoutMS, 10), nil)
			done <- result{x, err}
		}()
		select {
		case <-written:
		case r := <-done:
			t.Fatalf("the long poll ended before shutdown began: %v %v", r.x, r.err)
		case <-time.After(30 * time.Second):
			t.Fatal("the long poll request was not written within 30 s")
		}
		if !<-reused {
			t.Log("note: the long poll did not reuse the warmed-up connection")
		}
		// The request bytes are on a connection the server is reading;
		// give its goroutine a moment to pick them up, so that SIGTERM
		// finds the request active rather than the connection idle.
		// (A settle delay, not an assertion.)
		time.Sleep(300 * time.Millisecond)

		s.stop() // fails the test unless the process exits 0 within harness.StopBound

		var r result
		select {
		case r = <-done:
		case <-time.After(harness.StopBound):
			t.Fatalf("the long poll got no answer within %v of SIGTERM", harness.StopBound)
		}
		if r.err != nil || attempts.Load() > 1 {
			how := fmt.Sprintf("the request failed: %v", r.err)
			if attempts.Load() > 1 {
				// net/http resends a GET once when a reused connection
				// dies before any answer; what matters is the first one.
				how = fmt.Sprintf("the connection carrying it was closed without an answer; the HTTP client's automatic resend then got: %v", r.err)
			}
			t.Fatalf("the in-flight long poll (GET /sync?since=%s&timeout=%d, sent before SIGTERM) was cut off by the shutdown instead of answered: %s\nserver log lines about it and the shutdown:\n%s",
				since, pollTimeoutMS, how, s.logLinesContaining("shutting down", "/sync", "level=ERROR", "level=WARN", "server stopped"))
		}
		if r.x.Status != http.StatusOK {
			t.Fatalf("the in-flight long poll was answered with an error:\n%s", r.x)
		}
		var resp syncResponse
		if err := json.Unmarshal(r.x.RespBody, &resp); err != nil || resp.NextBatch == "" {
			t.Fatalf("the in-flight long poll's answer is not a sync response with next_batch (%v):\n%s", err, r.x)
		}
	})
}
