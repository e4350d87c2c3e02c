package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const testPassword = "bench password 1234 ABC!"

// The MAC of Synapse's shared-secret registration (docs/admin_api/
// register_api.md). Expected values computed independently with Python's
// hmac module.
func TestSharedSecretMAC_SynapseVectors(t *testing.T) {
	if got := SharedSecretMAC("shh", "abcdef", "alice", "pass", false); got != "7cf0c0909eafb13d7d60eddfb45bbda19f055446" {
		t.Errorf("notadmin MAC = %s", got)
	}
	if got := SharedSecretMAC("shh", "abcdef", "alice", "pass", true); got != "a5377a5dabc05e870df2d6d62bca2c689664e5db" {
		t.Errorf("admin MAC = %s", got)
	}
}

// A client session against a real in-process server: both registration
// methods, login, a room, a message, sync and the member list.
func TestClient_Session(t *testing.T) {
	srv := servertest.Start(t, storagetest.NewSQLite(t), servertest.Options{ExtraYAML: "registration_shared_secret: \"bench-secret\"\n"})
	ctx := context.Background()
	conn := NewConn(srv.URL+"/", 8)
	defer conn.Close()

	if v, err := conn.Versions(ctx); err != nil || len(v) == 0 {
		t.Fatalf("versions: %v %v", v, err)
	}
	alice, err := Registrar{Conn: conn}.Register(ctx, "alice", testPassword)
	if err != nil {
		t.Fatalf("dummy register: %v", err)
	}
	bob, err := Registrar{Conn: conn, SharedSecret: "bench-secret"}.Register(ctx, "bob", testPassword)
	if err != nil {
		t.Fatalf("shared-secret register: %v", err)
	}
	if _, err := conn.RegisterSharedSecret(ctx, "wrong", "carol", testPassword); err == nil {
		t.Errorf("a wrong shared secret was accepted")
	}
	bob2, err := conn.Login(ctx, "bob", testPassword)
	if err != nil || bob2.UserID != bob.UserID || bob2.AccessToken == bob.AccessToken {
		t.Fatalf("login: %+v %v", bob2, err)
	}

	room, err := alice.CreateRoom(ctx, map[string]any{"preset": "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bob2.Join(ctx, room); err != nil || got != room {
		t.Fatalf("join: %q %v", got, err)
	}
	first, err := bob2.Sync(ctx, SyncParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := first.Rooms.Join[room]; !ok || first.Bytes == 0 {
		t.Fatalf("initial sync lacks the room: %+v", first)
	}
	sent, err := alice.SendText(ctx, room, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if !sent.Reply.After(sent.Start) {
		t.Errorf("reply %v not after start %v", sent.Reply, sent.Start)
	}
	next, err := bob2.Sync(ctx, SyncParams{Since: first.NextBatch, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range next.Rooms.Join[room].Timeline.Events {
		ids = append(ids, ev.EventID)
	}
	if !slices.Contains(ids, sent.EventID) {
		t.Errorf("incremental sync %v lacks %s", ids, sent.EventID)
	}
	members, err := alice.JoinedMembers(ctx, room)
	slices.Sort(members)
	if err != nil || !slices.Equal(members, []string{alice.UserID, bob.UserID}) {
		t.Errorf("joined members %v %v", members, err)
	}

	bad := &Client{Conn: conn, AccessToken: "nope"}
	if _, err := bad.CreateRoom(ctx, nil); Errcode(err) != "M_UNKNOWN_TOKEN" {
		t.Errorf("bad token: %v", err)
	}
	if c := conn.Counters(); c.Requests < 10 || c.RateLimited != 0 {
		t.Errorf("counters %+v", c)
	}
}

// A 429 M_LIMIT_EXCEEDED is retried after the server's retry_after_ms, a
// bounded number of times.
func TestConn_RetriesRateLimits(t *testing.T) {
	var calls atomic.Int32
	var limitFirst atomic.Int32
	limitFirst.Store(2)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= limitFirst.Load() {
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":1}`))
			return
		}
		w.Write([]byte(`{"versions":["v1.1"]}`))
	}))
	defer ts.Close()
	conn := NewConn(ts.URL, 2)
	if _, err := conn.Versions(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := conn.Counters(); c.RateLimited != 2 || c.Requests != 3 {
		t.Errorf("counters %+v, want 2 rate-limited of 3", c)
	}

	calls.Store(0)
	limitFirst.Store(100)
	conn.MaxRetries = 1
	_, err := conn.Versions(context.Background())
	if Errcode(err) != "M_LIMIT_EXCEEDED" {
		t.Errorf("after the retry bound: %v", err)
	}
}
