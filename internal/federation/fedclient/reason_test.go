package fedclient

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
)

// Reason names why a request got no answer, in words a user or an
// operator can act on (issue 10 item 5), and says nothing about answers.
func TestReason_SaysWhyNoAnswerCame(t *testing.T) {
	e := newEnv(t)
	other := fedtest.NewCA(t)
	good := fedtest.Serve(t, "127.0.0.2", e.ca.Issue(t, "hs.test", "127.0.0.2"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"no"}`))
	}))
	untrusted := fedtest.Serve(t, "127.0.0.3", other.Issue(t, "127.0.0.3"), okHandler())
	// A port that refuses connections: bound, then closed.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	// A server that accepts connections and never says a word.
	silent, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	_, silentPort, _ := net.SplitHostPort(silent.Addr().String())

	c := e.client(t, nil)
	blocking := e.client(t, func(c *Config) { c.Guard = netguard.New(nil, nil) })
	denying := e.client(t, func(c *Config) { c.DomainWhitelist = []string{"friend.test"} })
	for _, tt := range []struct {
		name     string
		client   *Client
		dest     string
		timeout  time.Duration
		want     string
		timedOut bool
	}{
		{"an answer", c, "127.0.0.2:" + good.Port, 0, "", false},
		{"blocked", blocking, "127.0.0.2:" + good.Port, 0, "blocked by ip_range_blacklist", false},
		{"not whitelisted", denying, "127.0.0.2:" + good.Port, 0, "federation_domain_whitelist", false},
		{"untrusted certificate", c, "127.0.0.3:" + untrusted.Port, 0, "TLS certificate verification failed", false},
		{"refused", c, "127.0.0.2:" + closedPort, 0, "connection refused", false},
		{"unknown name", c, "nowhere.test", 0, "could not be found", false},
		{"silent", c, "127.0.0.2:" + silentPort, 300 * time.Millisecond, "did not answer in time", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := tt.client.Get(ctx, tt.dest, "/x", nil)
			if err == nil {
				t.Fatal("the request succeeded")
			}
			got := Reason(err)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Reason(%v) = %q, want it to say %q", err, got, tt.want)
			}
			if TimedOut(err) != tt.timedOut {
				t.Errorf("TimedOut(%v) = %v, want %v", err, !tt.timedOut, tt.timedOut)
			}
		})
	}
}
