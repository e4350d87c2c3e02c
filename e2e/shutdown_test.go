package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"
)

// SIGTERM while a client long-polls /sync: the server finishes that
// request (the client gets a complete 200 answer, not a cut connection)
// and then exits cleanly.
func TestGracefulShutdown_AnswersInFlightLongPollSync(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		// The long poll's own timeout. Whether the server answers at once on
		// shutdown or lets the poll run out, it must answer: this is well
		// under the 30 s the server allows in-flight requests.
		const pollTimeoutMS = 8000
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
		poller := &client{s: s, httpc: &http.Client{Transport: transport, Timeout: time.Minute}, token: alice.token}
		poller.must(t, "GET", "/_matrix/client/v3/account/whoami", nil, nil)

		type result struct {
			x   *exchange
			err error
		}
		written := make(chan struct{})
		var writtenOnce sync.Once
		reused := make(chan bool, 1)
		done := make(chan result, 1)
		go func() {
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
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

		s.stop() // fails the test unless the process exits 0 within stopBound

		var r result
		select {
		case r = <-done:
		case <-time.After(stopBound):
			t.Fatalf("the long poll got no answer within %v of SIGTERM", stopBound)
		}
		if r.err != nil {
			t.Fatalf("the in-flight long poll was cut off by the shutdown instead of answered: %v", r.err)
		}
		if r.x.status != http.StatusOK {
			t.Fatalf("the in-flight long poll was answered with an error:\n%s", r.x)
		}
		var resp syncResponse
		if err := json.Unmarshal(r.x.respBody, &resp); err != nil || resp.NextBatch == "" {
			t.Fatalf("the in-flight long poll's answer is not a sync response with next_batch (%v):\n%s", err, r.x)
		}
	})
}
