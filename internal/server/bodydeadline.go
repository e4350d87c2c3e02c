package server

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// bodyDeadline bounds the time to receive a request's body
// (myelin.request_body_timeout): a client that sends headers and then
// trickles a body would otherwise hold a goroutine and a descriptor
// forever. http.Server's ReadTimeout cannot do this job: it also runs
// while the handler works, and when it fires during a long-polling /sync
// (whose connection the server keeps reading to notice a client that
// went away) it cancels the request. So the deadline is set per request,
// only when there is a body, and lifted once the body has been read.
// Reads past it fail, which httpapi reports as 408.
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body ends. A body the
// handler leaves unread keeps it: the server drains what is left before
// the next request on the connection, and that must be bounded too.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}
