package typing

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

const alice, bob, remote = "@alice:hs1", "@bob:hs1", "@rita:hs2"

// edus records what would go to other servers.
type edus struct {
	mu   sync.Mutex
	sent []sender.EDU
}

func (e *edus) SendEDU(_ context.Context, edu sender.EDU, _ []string) error {
	e.mu.Lock()
	e.sent = append(e.sent, edu)
	e.mu.Unlock()
	return nil
}

type world struct {
	t      *testing.T
	ctx    context.Context
	e      *rooms.Engine
	clock  *roomstest.Clock
	svc    *Service
	syncer *syncapi.Syncer
	edus   *edus
	room   string
}

func newWorld(t *testing.T, db *sqldb.DB) *world {
	t.Helper()
	e := roomstest.NewEngine(t, db, "hs1")
	w := &world{t: t, ctx: context.Background(), e: e, clock: roomstest.NewClock(), edus: &edus{}}
	w.svc = New(Config{Rooms: e, ServerName: "hs1", Sender: w.edus, Now: w.clock.Now})
	w.syncer = syncapi.New(e, nil, nil)
	w.syncer.AddStream(w.svc)
	w.room = roomstest.PublicRoom(t, e, alice, bob, remote)
	return w
}

func (w *world) sync(user, since string) *syncapi.Response {
	w.t.Helper()
	resp, err := w.syncer.Sync(w.ctx, syncapi.Request{UserID: user, DeviceID: "D", Since: since})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

// typingIn returns the user_ids of the m.typing event in the room's
// ephemeral section, and whether there was one.
func typingIn(t *testing.T, resp *syncapi.Response, roomID string) ([]string, bool) {
	t.Helper()
	jr := resp.Rooms.Join[roomID]
	if jr == nil {
		return nil, false
	}
	for _, raw := range jr.Ephemeral.Events {
		var ev struct {
			Type    string `json:"type"`
			Content struct {
				UserIDs []string `json:"user_ids"`
			} `json:"content"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "m.typing" {
			return ev.Content.UserIDs, true
		}
	}
	return nil, false
}

func sameUsers(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// client-server-api "Typing Notifications": typing lasts for the timeout
// the client gave (capped), then ends by itself and /sync says so.
func TestTyping_EndsWhenTheTimeoutPasses(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		if err := w.svc.Set(w.ctx, w.room, alice, true, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		first := w.sync(bob, "")
		if got, ok := typingIn(t, first, w.room); !ok || !sameUsers(got, alice) {
			t.Fatalf("initial sync: typing %v (%v), want [alice]", got, ok)
		}
		w.clock.Add(9 * time.Second)
		w.svc.Expire(w.ctx)
		if got := w.svc.Typing(w.room); !sameUsers(got, alice) {
			t.Fatalf("before the timeout: %v", got)
		}
		w.clock.Add(time.Second)
		w.svc.Expire(w.ctx)
		next := w.sync(bob, first.NextBatch)
		if got, ok := typingIn(t, next, w.room); !ok || len(got) != 0 {
			t.Fatalf("after the timeout: typing %v (%v), want an empty list", got, ok)
		}
		// Synapse tells other servers at once when a local user times out.
		w.edus.mu.Lock()
		last := w.edus.sent[len(w.edus.sent)-1]
		w.edus.mu.Unlock()
		if string(last.Content) != `{"room_id":"`+w.room+`","typing":false,"user_id":"@alice:hs1"}` {
			t.Errorf("last EDU: %s", last.Content)
		}
		// An initial sync does not show an empty list.
		if _, ok := typingIn(t, w.sync(bob, ""), w.room); ok {
			t.Error("initial sync shows an m.typing event for a room where nobody types")
		}
	})
}

// A timeout above the cap is cut to MaxTimeout.
func TestTyping_TimeoutIsCapped(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		if err := w.svc.Set(w.ctx, w.room, alice, true, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		w.clock.Add(MaxTimeout)
		w.svc.Expire(w.ctx)
		if got := w.svc.Typing(w.room); len(got) != 0 {
			t.Errorf("still typing after MaxTimeout: %v", got)
		}
	})
}

// typing: false and a message from the user both end typing; only the
// room's joined members may type.
func TestTyping_StoppedByFalseAndByAMessage(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		w.e.OnCommit(w.svc.StopOnCommit)
		_ = w.svc.Set(w.ctx, w.room, alice, true, time.Minute)
		_ = w.svc.Set(w.ctx, w.room, bob, true, time.Minute)
		if got := w.svc.Typing(w.room); !sameUsers(got, alice, bob) {
			t.Fatalf("typing %v", got)
		}
		if err := w.svc.Set(w.ctx, w.room, bob, false, 0); err != nil {
			t.Fatal(err)
		}
		roomstest.Say(t, w.e, w.room, alice, "hi")
		deadline := time.Now().Add(5 * time.Second)
		for len(w.svc.Typing(w.room)) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := w.svc.Typing(w.room); len(got) != 0 {
			t.Errorf("after alice's message and bob's typing: false: %v", got)
		}
		err := w.svc.Set(w.ctx, w.room, "@nobody:hs1", true, time.Minute)
		if m, ok := merr.As(err); !ok || m.Code != merr.CodeForbidden {
			t.Errorf("a non-member typing: %v, want M_FORBIDDEN", err)
		}
	})
}

// server-server-api "Typing Notifications": a typing EDU counts only for a
// user of the sending server, in a room whose ACL admits it.
func TestTyping_ReceivedEDUsAreChecked(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		edu := func(origin, user string, allowed bool) error {
			content, _ := json.Marshal(map[string]any{"room_id": w.room, "user_id": user, "typing": true})
			return w.svc.HandleEDU(w.ctx, federationapi.InboundEDU{Origin: origin, Type: EDUType, Content: content,
				RoomAllowed: func(context.Context, string) bool { return allowed }})
		}
		if err := edu("evil.test", remote, true); err == nil {
			t.Error("an EDU for hs2's user from evil.test was accepted")
		}
		if err := edu("hs2", remote, false); err == nil {
			t.Error("an EDU from a server the ACL denies was accepted")
		}
		if err := edu("hs2", "@stranger:hs2", true); err == nil {
			t.Error("an EDU for a user not in the room was accepted")
		}
		if got := w.svc.Typing(w.room); len(got) != 0 {
			t.Fatalf("typing after refused EDUs: %v", got)
		}
		if err := edu("hs2", remote, true); err != nil {
			t.Fatal(err)
		}
		if got, _ := typingIn(t, w.sync(alice, ""), w.room); !sameUsers(got, remote) {
			t.Errorf("alice sees %v typing, want [%s]", got, remote)
		}
		w.clock.Add(FederationTimeout)
		w.svc.Expire(w.ctx)
		if got := w.svc.Typing(w.room); len(got) != 0 {
			t.Errorf("a remote user's typing outlived FederationTimeout: %v", got)
		}
	})
}

// Positions come from the clock, so a new process (a new Service) starts
// above every position an earlier one handed out.
func TestTyping_PositionsNeverGoBackwardsAcrossRestarts(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		for i := 0; i < 50; i++ {
			_ = w.svc.Set(w.ctx, w.room, alice, i%2 == 0, time.Minute)
		}
		before := w.svc.Current()
		w.clock.Add(time.Second)
		restarted := New(Config{Rooms: w.e, ServerName: "hs1", Now: w.clock.Now})
		if restarted.Current() <= before {
			t.Errorf("restarted at %d, not above %d", restarted.Current(), before)
		}
	})
}

// typingRaw returns the room's m.typing event as the response holds it.
func typingRaw(resp *syncapi.Response, roomID string) json.RawMessage {
	if jr := resp.Rooms.Join[roomID]; jr != nil {
		for _, raw := range jr.Ephemeral.Events {
			var ev struct{ Type string }
			if json.Unmarshal(raw, &ev) == nil && ev.Type == "m.typing" {
				return raw
			}
		}
	}
	return nil
}

// One change of a room's typing set is encoded once: every member's sync
// that shows it carries the same bytes, and the next change is encoded
// anew.
func TestTyping_OneEventPerChangeSharedByMembersSyncs(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		aTok, bTok := w.sync(alice, "").NextBatch, w.sync(bob, "").NextBatch
		if err := w.svc.Set(w.ctx, w.room, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		a, b := w.sync(alice, aTok), w.sync(bob, bTok)
		ra, rb := typingRaw(a, w.room), typingRaw(b, w.room)
		if ra == nil || rb == nil || &ra[0] != &rb[0] {
			t.Fatalf("alice's and bob's events are not one shared encoding: %s %s", ra, rb)
		}
		if got, _ := typingIn(t, b, w.room); !sameUsers(got, alice) {
			t.Fatalf("bob sees %v", got)
		}
		if err := w.svc.Set(w.ctx, w.room, bob, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		b2 := w.sync(bob, b.NextBatch)
		if got, _ := typingIn(t, b2, w.room); !sameUsers(got, alice, bob) {
			t.Fatalf("after bob starts, bob sees %v", got)
		}
		if got, _ := typingIn(t, w.sync(alice, a.NextBatch), w.room); !sameUsers(got, alice, bob) {
			t.Fatalf("after bob starts, alice sees %v", got)
		}
	})
}
