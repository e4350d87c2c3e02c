package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
)

// fakeAppservice is a real HTTP server on loopback answering as an
// appservice would; it records what it was sent.
type fakeAppservice struct {
	srv  *httptest.Server
	reqs chan *http.Request
	body chan []byte
}

func newFakeAppservice(t *testing.T, h http.HandlerFunc) *fakeAppservice {
	f := &fakeAppservice{reqs: make(chan *http.Request, 64), body: make(chan []byte, 64)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.reqs <- r
		f.body <- b
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func regFor(t *testing.T, u string) (*Registration, *Set) {
	t.Helper()
	r, err := Parse([]byte("id: a\nurl: "+u+"\nas_token: as\nhs_token: hs-secret\nsender_localpart: bot\nprotocols: [irc]\n"), "a.yaml", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func TestClient_PushTransactionSendsHSToken(t *testing.T) {
	f := newFakeAppservice(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	r, s := regFor(t, f.srv.URL)
	// The default guard blocks loopback: the registration's own host is
	// trusted all the same, because the operator wrote it.
	c := NewClient(ClientConfig{Set: s, Guard: netguard.New(nil, nil)})
	if err := c.PushTransaction(context.Background(), r, "txn/1", []byte(`{"events":[]}`)); err != nil {
		t.Fatal(err)
	}
	req, body := <-f.reqs, <-f.body
	if req.Method != http.MethodPut || req.URL.EscapedPath() != "/_matrix/app/v1/transactions/txn%2F1" ||
		req.Header.Get("Authorization") != "Bearer hs-secret" || string(body) != `{"events":[]}` {
		t.Errorf("got %s %s %q %s", req.Method, req.URL.EscapedPath(), req.Header.Get("Authorization"), body)
	}
}

func TestClient_GuardAppliesToOtherHosts(t *testing.T) {
	f := newFakeAppservice(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	r, _ := regFor(t, f.srv.URL)
	// A client whose set does not hold this registration does not trust
	// its host, and the default blocklist refuses loopback.
	c := NewClient(ClientConfig{Guard: netguard.New(nil, nil)})
	err := c.Ping(context.Background(), r, "")
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("err = %v, want a blocked dial", err)
	}
}

func TestClient_ErrorsTellDownFromNo(t *testing.T) {
	f := newFakeAppservice(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errcode":"M_FORBIDDEN"}`))
	})
	r, s := regFor(t, f.srv.URL)
	c := NewClient(ClientConfig{Set: s})
	err := c.Ping(context.Background(), r, "meow")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 || string(se.Body) != `{"errcode":"M_FORBIDDEN"}` {
		t.Errorf("refusal: %v", err)
	}
	if b := <-f.body; string(b) != `{"transaction_id":"meow"}` {
		t.Errorf("ping body %s", b)
	}

	// A closed port: down, not a refusal.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	r2, s2 := regFor(t, "http://"+addr)
	err = NewClient(ClientConfig{Set: s2}).Ping(context.Background(), r2, "")
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Timeout {
		t.Errorf("closed port: %v", err)
	}

	// No answer in time: down, with Timeout set.
	hang := make(chan struct{})
	slow := newFakeAppservice(t, func(w http.ResponseWriter, r *http.Request) { <-hang })
	defer close(hang)
	r3, s3 := regFor(t, slow.srv.URL)
	err = NewClient(ClientConfig{Set: s3, Timeout: 50 * time.Millisecond}).Ping(context.Background(), r3, "")
	if !errors.As(err, &ue) || !ue.Timeout {
		t.Errorf("timeout: %v", err)
	}

	r4, _ := regFor(t, "null")
	if err := NewClient(ClientConfig{}).Ping(context.Background(), r4, ""); !errors.Is(err, ErrURLNotSet) {
		t.Errorf("url null: %v", err)
	}
}

func TestClient_Queries(t *testing.T) {
	f := newFakeAppservice(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_matrix/app/v1/users/@_a_known:example.org", "/_matrix/app/v1/rooms/#_a_known:example.org":
			w.Write([]byte("{}"))
		case "/_matrix/app/v1/thirdparty/protocol/irc":
			w.Write([]byte(`{"user_fields":["nick"],"location_fields":[],"icon":"","field_types":{},"instances":[]}`))
		case "/_matrix/app/v1/thirdparty/location/irc", "/_matrix/app/v1/thirdparty/user":
			w.Write([]byte(`[{"protocol":"irc","fields":{}}]`))
		case "/_matrix/app/v1/thirdparty/location":
			w.Write([]byte(`["not an object"]`))
		default:
			w.WriteHeader(404)
			w.Write([]byte(`{"errcode":"M_NOT_FOUND"}`))
		}
	})
	r, s := regFor(t, f.srv.URL)
	c := NewClient(ClientConfig{Set: s})
	ctx := context.Background()
	if ok, err := c.QueryUser(ctx, r, "@_a_known:example.org"); !ok || err != nil {
		t.Errorf("known user: %v %v", ok, err)
	}
	if ok, err := c.QueryUser(ctx, r, "@_a_unknown:example.org"); ok || err != nil {
		t.Errorf("unknown user is false without error: %v %v", ok, err)
	}
	if ok, err := c.QueryAlias(ctx, r, "#_a_known:example.org"); !ok || err != nil {
		t.Errorf("known alias: %v %v", ok, err)
	}
	if p, err := c.ThirdPartyProtocol(ctx, r, "irc"); err != nil || !json.Valid(p) {
		t.Errorf("protocol: %s %v", p, err)
	}
	if l, err := c.ThirdPartyLocations(ctx, r, "irc", url.Values{"channel": {"#x"}}); err != nil || len(l) != 1 {
		t.Errorf("locations: %v %v", l, err)
	}
	for range 4 {
		<-f.reqs
	}
	if q := (<-f.reqs).URL.Query().Get("channel"); q != "#x" {
		t.Errorf("fields passed on: %q", q)
	}
	if u, err := c.ThirdPartyUsersByUserID(ctx, r, "@a:example.org"); err != nil || len(u) != 1 {
		t.Errorf("users by id: %v %v", u, err)
	}
	var bad *BadAnswerError
	if _, err := c.ThirdPartyLocationsByAlias(ctx, r, "#a:example.org"); !errors.As(err, &bad) {
		t.Errorf("a malformed list: %v", err)
	}
}
