package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// homeserver is one server's e2ee service on its own database.
type homeserver struct {
	name string
	svc  *Service
	acct accounts.Store
}

// relay is federation between the test's servers: each EDU goes to the
// destination's receiver as federationapi's dispatcher would hand it over,
// and is kept so the test can deliver it again (a retried transaction).
type relay struct {
	origin string
	to     map[string]*homeserver
	sent   []sentEDU
}

type sentEDU struct {
	dest    string
	content json.RawMessage
}

func (r *relay) SendEDU(ctx context.Context, eduType string, content json.RawMessage, dest string) error {
	if eduType != EDUDirectToDevice {
		return fmt.Errorf("unexpected EDU %s", eduType)
	}
	r.sent = append(r.sent, sentEDU{dest, content})
	return r.to[dest].svc.ReceiveDirectToDevice(ctx, r.origin, content)
}

// newHomeserver starts a server named name on a fresh database of db's
// backend, with the given users' devices ("@u:name/DEVICE").
func newHomeserver(t *testing.T, db *sqldb.DB, name string, devices ...string) *homeserver {
	t.Helper()
	ctx := context.Background()
	if db.Dialect() == sqldb.Postgres {
		db = storagetest.NewPostgres(t)
	} else {
		db = storagetest.NewSQLite(t)
	}
	acct, err := accounts.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for i, ud := range devices {
		u, d, _ := strings.Cut(ud, "/")
		s := accounts.NewSession{UserID: u, DeviceID: d, AccessTokenHash: []byte(ud + fmt.Sprint(i))}
		if !users[u] {
			users[u] = true
			_, err = acct.CreateUser(ctx, accounts.NewUser{UserID: u}, &s)
		} else {
			_, err = acct.CreateSession(ctx, s)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	store, err := e2eestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := roomstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ctx, Config{Store: store, Devices: acct, Rooms: rs, RoomNow: func() int64 { return 0 }, ServerName: name})
	if err != nil {
		t.Fatal(err)
	}
	return &homeserver{name: name, svc: svc, acct: acct}
}

// queued lists the "n" field of the messages waiting for a device.
func (hs *homeserver) queued(t *testing.T, user, device string) string {
	t.Helper()
	msgs, err := hs.svc.store.ToDeviceMessages(context.Background(), user, device, 0, 1<<62, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		var c struct{ N string }
		_ = json.Unmarshal(m.Content, &c)
		out = append(out, m.Sender+":"+c.N)
	}
	return fmt.Sprint(out)
}

func content(n string) json.RawMessage { return json.RawMessage(`{"n":"` + n + `"}`) }

// server-server-api "Send-to-device messaging": messages for other servers'
// users leave as one m.direct_to_device EDU per destination; the receiver
// queues them for its devices ("*" meaning all) once per message_id, and a
// client's retried request sends nothing again.
func TestDirectToDevice_BatchedPerServerAndDeliveredOnce(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs1 := newHomeserver(t, db, "hs1", "@alice:hs1/A")
		hs2 := newHomeserver(t, db, "hs2", "@bob:hs2/B1", "@bob:hs2/B2", "@carol:hs2/C")
		hs3 := newHomeserver(t, db, "hs3", "@dave:hs3/D")
		r := &relay{origin: "hs1", to: map[string]*homeserver{"hs2": hs2, "hs3": hs3}}
		hs1.svc.SetFederation(r)
		req := ToDeviceRequest{Sender: "@alice:hs1", SenderDevice: "A", TxnID: "t1", Type: "m.room_key",
			Messages: map[string]map[string]json.RawMessage{
				"@bob:hs2":   {"*": content("1")},
				"@carol:hs2": {"C": content("2"), "NOSUCH": content("x")},
				"@dave:hs3":  {"D": content("3")},
			}}
		if err := hs1.svc.SendToDevice(ctx, req); err != nil {
			t.Fatal(err)
		}
		if len(r.sent) != 2 || r.sent[0].dest != "hs2" || r.sent[1].dest != "hs3" {
			t.Fatalf("EDUs: %+v", r.sent)
		}
		// The receiving servers may get an EDU twice (a retried
		// transaction); the client may retry its request.
		for _, e := range r.sent {
			if err := r.to[e.dest].svc.ReceiveDirectToDevice(ctx, "hs1", e.content); err != nil {
				t.Fatal(err)
			}
		}
		if err := hs1.svc.SendToDevice(ctx, req); err != nil {
			t.Fatal(err)
		}
		if len(r.sent) != 2 {
			t.Fatalf("a retried request sent %d EDUs in all", len(r.sent))
		}
		for _, c := range []struct {
			hs           *homeserver
			user, device string
			want         string
		}{
			{hs2, "@bob:hs2", "B1", "[@alice:hs1:1]"},
			{hs2, "@bob:hs2", "B2", "[@alice:hs1:1]"},
			{hs2, "@carol:hs2", "C", "[@alice:hs1:2]"},
			{hs3, "@dave:hs3", "D", "[@alice:hs1:3]"},
		} {
			if got := c.hs.queued(t, c.user, c.device); got != c.want {
				t.Errorf("%s/%s: %s, want %s", c.user, c.device, got, c.want)
			}
		}
	})
}

// An EDU's sender must be a user of the server that sent it.
func TestDirectToDevice_SenderMustBelongToOrigin(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs2 := newHomeserver(t, db, "hs2", "@bob:hs2/B")
		edu := json.RawMessage(`{"sender":"@alice:hs1","type":"m.room_key","message_id":"m1","messages":{"@bob:hs2":{"B":{"n":"1"}}}}`)
		if err := hs2.svc.ReceiveDirectToDevice(context.Background(), "evil.example", edu); err == nil {
			t.Fatal("accepted an EDU whose sender is on another server")
		}
		for _, bad := range []string{`{"sender":"@alice:hs1","type":"","message_id":"m","messages":{}}`, `{"sender":"@alice:hs1","type":"t","messages":{}}`, `[]`} {
			if err := hs2.svc.ReceiveDirectToDevice(context.Background(), "hs1", json.RawMessage(bad)); err == nil {
				t.Errorf("accepted %s", bad)
			}
		}
		if got := hs2.queued(t, "@bob:hs2", "B"); got != "[]" {
			t.Fatalf("queued %s", got)
		}
	})
}

// A request larger than one EDU may carry is split, each part with its own
// message_id, and every part arrives.
func TestDirectToDevice_LargeRequestSplitIntoSeveralEDUs(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newHomeserver(t, db, "hs1", "@alice:hs1/A")
		hs2 := newHomeserver(t, db, "hs2", "@bob:hs2/B1", "@bob:hs2/B2", "@bob:hs2/B3")
		r := &relay{origin: "hs1", to: map[string]*homeserver{"hs2": hs2}}
		hs1.svc.SetFederation(r)
		big := func(n string) json.RawMessage {
			return json.RawMessage(`{"n":"` + n + `","pad":"` + strings.Repeat("x", 30000) + `"}`)
		}
		err := hs1.svc.SendToDevice(context.Background(), ToDeviceRequest{Sender: "@alice:hs1", SenderDevice: "A", TxnID: "t", Type: "m.t",
			Messages: map[string]map[string]json.RawMessage{"@bob:hs2": {"B1": big("1"), "B2": big("2"), "B3": big("3")}}})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, e := range r.sent {
			if len(e.content) > 65536 {
				t.Errorf("an EDU of %d bytes", len(e.content))
			}
			var c directToDevice
			_ = json.Unmarshal(e.content, &c)
			ids[c.MessageID] = true
		}
		if len(r.sent) < 2 || len(ids) != len(r.sent) {
			t.Fatalf("%d EDUs, %d message IDs", len(r.sent), len(ids))
		}
		for i, d := range []string{"B1", "B2", "B3"} {
			if got := hs2.queued(t, "@bob:hs2", d); got != fmt.Sprintf("[@alice:hs1:%d]", i+1) {
				t.Errorf("%s: %s", d, got)
			}
		}
	})
}

// server-server-api "Device Management": a server speaks only for its own
// users' devices, and updates about users no local user shares a room
// with are not kept (their lists are not tracked).
func TestDeviceListUpdate_OnlyFromTheUsersServerAndForTrackedUsers(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs1 := newHomeserver(t, db, "hs1", "@alice:hs1/A")
		update := json.RawMessage(`{"user_id":"@bob:hs2","device_id":"B","stream_id":1,"keys":{"user_id":"@bob:hs2","device_id":"B"}}`)
		if err := hs1.svc.ReceiveDeviceListUpdate(ctx, "evil.example", update); !errors.Is(err, merr.ErrForbidden) {
			t.Fatalf("an update for another server's user: %v", err)
		}
		forged := json.RawMessage(`{"user_id":"@bob:hs2","device_id":"B","stream_id":1,"keys":{"user_id":"@bob:hs2","device_id":"OTHER"}}`)
		if err := hs1.svc.ReceiveDeviceListUpdate(ctx, "hs2", forged); err == nil {
			t.Fatal("keys of another device were taken")
		}
		if err := hs1.svc.ReceiveDeviceListUpdate(ctx, "hs2", update); err != nil {
			t.Fatal(err)
		}
		if l, err := hs1.svc.store.RemoteDeviceList(ctx, "@bob:hs2"); err != nil || l != nil {
			t.Fatalf("an untracked user's list was cached: %+v, %v", l, err)
		}
		if top, err := hs1.svc.store.MaxDeviceListPos(ctx); err != nil || top != 0 {
			t.Fatalf("an untracked user's update was recorded: %d, %v", top, err)
		}
	})
}

// Text from other servers that the database could not store as given
// (U+0000; invalid UTF-8 is refused with the whole transaction) is refused
// as a Matrix error before any SQL: on PostgreSQL it would otherwise fail
// as storage trouble, which makes the sending server retry a durable EDU
// for ever. Nothing is stored, on either backend.
func TestReceivedEDUs_RefuseNULBeforeTheDatabase(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs := newHomeserver(t, db, "hs2", "@bob:hs2/B")
		for _, edu := range []struct {
			name    string
			receive func(json.RawMessage) error
			content string
		}{
			{"to-device type", func(c json.RawMessage) error { return hs.svc.ReceiveDirectToDevice(ctx, "hs1", c) },
				`{"sender":"@a:hs1","type":"m.x\u0000","message_id":"m1","messages":{"@bob:hs2":{"B":{}}}}`},
			{"to-device message_id", func(c json.RawMessage) error { return hs.svc.ReceiveDirectToDevice(ctx, "hs1", c) },
				`{"sender":"@a:hs1","type":"m.x","message_id":"m\u0000","messages":{"@bob:hs2":{"B":{}}}}`},
			{"to-device device ID", func(c json.RawMessage) error { return hs.svc.ReceiveDirectToDevice(ctx, "hs1", c) },
				`{"sender":"@a:hs1","type":"m.x","message_id":"m2","messages":{"@bob:hs2":{"B\u0000":{}}}}`},
			{"to-device sender", func(c json.RawMessage) error { return hs.svc.ReceiveDirectToDevice(ctx, "hs1", c) },
				`{"sender":"@a\u0000:hs1","type":"m.x","message_id":"m3","messages":{"@bob:hs2":{"B":{}}}}`},
			{"device list display name", func(c json.RawMessage) error { return hs.svc.ReceiveDeviceListUpdate(ctx, "hs1", c) },
				`{"user_id":"@a:hs1","device_id":"A","stream_id":1,"device_display_name":"x\u0000"}`},
			{"device list device ID", func(c json.RawMessage) error { return hs.svc.ReceiveDeviceListUpdate(ctx, "hs1", c) },
				`{"user_id":"@a:hs1","device_id":"A\u0000","stream_id":1}`},
			{"signing key update", func(c json.RawMessage) error { return hs.svc.ReceiveSigningKeyUpdate(ctx, "hs1", c) },
				`{"user_id":"@a:hs1","master_key":{"user_id":"@a:hs1","usage":["master"],"keys":{"ed25519:\u0000":"\u0000"}}}`},
		} {
			err := edu.receive(json.RawMessage(edu.content))
			if err == nil || merr.CodeOf(err) == "" {
				t.Errorf("%s with U+0000: %v, want a Matrix error", edu.name, err)
			}
		}
		// A NUL inside a message's content is the clients' business: it
		// stays JSON text, which both backends store.
		ok := `{"sender":"@a:hs1","type":"m.x","message_id":"m4","messages":{"@bob:hs2":{"B":{"n":"a\u0000b"}}}}`
		if err := hs.svc.ReceiveDirectToDevice(ctx, "hs1", json.RawMessage(ok)); err != nil {
			t.Fatal(err)
		}
		if got := hs.queued(t, "@bob:hs2", "B"); got != `[@a:hs1:a`+"\x00"+`b]` {
			t.Fatalf("queued %q", got)
		}
	})
}

// cannedRemote answers every GET with one body, as another server would.
type cannedRemote struct{ body string }

func (c cannedRemote) Get(_ context.Context, _, _ string, out any) error {
	return json.Unmarshal([]byte(c.body), out)
}

func (c cannedRemote) Post(context.Context, string, string, any, any) error {
	return errors.New("not served")
}

// A /user/devices answer with U+0000 in a device's ID, name or keys, or in
// a cross-signing key, has those left out before anything is stored; the
// rest of the list is cached, on both backends alike.
func TestFetchedDeviceList_NULLeftOutBeforeTheDatabase(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		hs := newHomeserver(t, db, "hs1", "@a:hs1/A")
		keys := func(d string) string {
			return `{"user_id":"@eve:hs2","device_id":"` + d + `","algorithms":[],"keys":{"ed25519:` + d + `":"k"}}`
		}
		hs.svc.SetRemote(cannedRemote{`{"user_id":"@eve:hs2","stream_id":3,"devices":[
			{"device_id":"OK","keys":` + keys("OK") + `},
			{"device_id":"BAD\u0000","keys":` + keys(`BAD\u0000`) + `},
			{"device_id":"NAME","device_display_name":"x\u0000","keys":` + keys("NAME") + `},
			{"device_id":"KEYS","keys":{"user_id":"@eve:hs2","device_id":"KEYS","algorithms":["\u0000"]}}],
			"master_key":{"user_id":"@eve:hs2","usage":["master"],"keys":{"ed25519:\u0000":"\u0000"}}}`})
		if _, err := hs.svc.resync(ctx, "@eve:hs2"); err != nil {
			t.Fatal(err)
		}
		list, err := hs.svc.store.RemoteDeviceList(ctx, "@eve:hs2")
		if err != nil || list == nil {
			t.Fatalf("cached list %v, %v", list, err)
		}
		var ids []string
		for _, d := range list.Devices {
			ids = append(ids, d.DeviceID)
		}
		if fmt.Sprint(ids) != "[OK]" || list.StreamID != 3 {
			t.Fatalf("cached devices %v at %d, want [OK] at 3", ids, list.StreamID)
		}
	})
}
