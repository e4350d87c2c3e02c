package server_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/fedtest"
	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Joining through servers that cannot be used answers what a client can
// act on: 502 (504 when all timed out) naming each server and why, not a
// bare 500 M_UNKNOWN (issue 10 item 5). The spec leaves the status to the
// server; Synapse answers 502 when the remote server cannot be reached.
func TestJoin_UnusableServersAreNamedWithTheReason(t *testing.T) {
	// A port that refuses connections, and a server whose certificate no
	// one trusts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	untrusted := fedtest.Serve(t, "127.0.0.3", fedtest.NewCA(t).Issue(t, "127.0.0.3"), http.NotFoundHandler()).Addr

	join := func(c *servertest.Client, server string, via ...string) (int, []byte) {
		q := url.Values{"via": via}
		return c.Do("POST", "/_matrix/client/v3/join/"+url.PathEscape("!nowhere:"+server)+"?"+q.Encode(), map[string]any{}, nil)
	}
	expect := func(t *testing.T, status int, raw []byte, wantStatus int, wants ...string) {
		t.Helper()
		if status != wantStatus || servertest.Errcode(raw) != "M_UNKNOWN" {
			t.Errorf("got %d %s, want %d M_UNKNOWN", status, raw, wantStatus)
		}
		for _, w := range wants {
			if !strings.Contains(string(raw), w) {
				t.Errorf("the error %s does not say %q", raw, w)
			}
		}
	}
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		// Loopback is allowed here, as on a LAN federation.
		open := servertest.Start(t, db, servertest.Options{ExtraYAML: "ip_range_whitelist: [127.0.0.0/8]\n"})
		alice := open.Register("alice")
		status, raw := join(alice, refused)
		expect(t, status, raw, http.StatusBadGateway, refused, "connection refused")
		status, raw = join(alice, untrusted)
		expect(t, status, raw, http.StatusBadGateway, untrusted, "TLS certificate verification failed")
		status, raw = join(alice, refused, untrusted)
		expect(t, status, raw, http.StatusBadGateway, "No server could be reached", refused+": unreachable", untrusted+": TLS")

		// The default ip_range_blacklist covers loopback.
		guarded := servertest.Start(t, db, servertest.Options{})
		status, raw = join(guarded.Register("bob"), refused)
		expect(t, status, raw, http.StatusBadGateway, refused, "ip_range_blacklist")
	})
}
