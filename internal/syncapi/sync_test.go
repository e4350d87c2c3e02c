package syncapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
)

// Incremental sync sections (client-server-api "GET /sync"): rooms whose
// membership changed since the token appear under leave / invite / join as
// they are at the end of the sync; rooms with no news are left out.

type syncWorld struct {
	t   *testing.T
	e   *rooms.Engine
	s   *Syncer
	ctx context.Context
}

func newSyncWorld(t *testing.T, db *sqldb.DB) *syncWorld {
	t.Helper()
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := signing.NewSigningKey("test", make([]byte, 32))
	e := rooms.New(rooms.Config{Store: st, ServerName: "hs1", Key: key, Stream: streams.NewTracker(0), Notifier: streams.NewNotifier()})
	t.Cleanup(e.Close)
	return &syncWorld{t: t, e: e, s: New(e, nil, nil), ctx: ctx}
}

func (w *syncWorld) room(creator string) string {
	w.t.Helper()
	id, err := w.e.CreateRoom(w.ctx, rooms.CreateRoomRequest{Creator: creator, Preset: "public_chat"})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *syncWorld) member(roomID, sender, target, membership string) {
	w.t.Helper()
	b := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: sender,
		Content: rooms.Content(map[string]any{"membership": membership})}
	if _, err := w.e.Send(w.ctx, roomID, b, nil); err != nil {
		w.t.Fatalf("%s %s %s in %s: %v", sender, membership, target, roomID, err)
	}
}

func (w *syncWorld) say(roomID, sender, body string) {
	w.t.Helper()
	b := &event.Builder{Type: event.TypeMessage, Sender: sender, Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": body})}
	if _, err := w.e.Send(w.ctx, roomID, b, nil); err != nil {
		w.t.Fatal(err)
	}
}

func (w *syncWorld) sync(user, since string) *Response {
	w.t.Helper()
	resp, err := w.s.Sync(w.ctx, Request{UserID: user, DeviceID: "D", Since: since})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

func TestIncrementalSync_MembershipChangesSinceToken(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice, bob = "@alice:hs1", "@bob:hs1"
		stay, leave, invited, quiet := w.room(alice), w.room(alice), w.room(alice), w.room(alice)
		for _, r := range []string{stay, leave, quiet} {
			w.member(r, bob, bob, event.Join)
		}
		since := w.sync(bob, "").NextBatch

		w.member(leave, bob, bob, event.Leave)
		w.member(invited, alice, bob, event.Invite)
		w.say(stay, alice, "news")
		resp := w.sync(bob, since)

		if _, ok := resp.Rooms.Leave[leave]; !ok || len(resp.Rooms.Leave) != 1 {
			t.Errorf("leave section %v, want only the room bob left", keys(resp.Rooms.Leave))
		}
		if _, ok := resp.Rooms.Invite[invited]; !ok || len(resp.Rooms.Invite) != 1 {
			t.Errorf("invite section %v, want only the room bob was invited to", keys(resp.Rooms.Invite))
		}
		if jr, ok := resp.Rooms.Join[stay]; !ok || len(resp.Rooms.Join) != 1 || len(jr.Timeline.Events) != 1 {
			t.Errorf("join section %v, want only the room with one new message", keys(resp.Rooms.Join))
		}

		// Nothing of bob's changed after this token: no sections at all.
		next := resp.NextBatch
		w.say(stay, alice, "more")
		resp = w.sync(bob, next)
		if len(resp.Rooms.Leave)+len(resp.Rooms.Invite) != 0 || len(resp.Rooms.Join) != 1 {
			t.Errorf("after the changes: join %v, leave %v, invite %v; want only the room with news",
				keys(resp.Rooms.Join), keys(resp.Rooms.Leave), keys(resp.Rooms.Invite))
		}
		if _, ok := resp.Rooms.Join[stay]; !ok {
			t.Errorf("join section %v lacks the room with news", keys(resp.Rooms.Join))
		}
	})
}

func TestIncrementalSync_RejoinedRoomIsFresh(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice, bob = "@alice:hs1", "@bob:hs1"
		r := w.room(alice)
		w.member(r, bob, bob, event.Join)
		w.member(r, bob, bob, event.Leave)
		since := w.sync(bob, "").NextBatch
		// Bob was out at the token and is in now: the room comes with its
		// full state, as for a newly joined room.
		w.member(r, bob, bob, event.Join)
		jr, ok := w.sync(bob, since).Rooms.Join[r]
		if !ok || !hasState(jr, event.TypeCreate) {
			t.Fatalf("rejoined room missing or without its state: %+v", jr)
		}
	})
}

func hasState(jr *JoinedRoom, typ string) bool {
	for _, e := range jr.State.Events {
		if e.Type == typ {
			return true
		}
	}
	for _, e := range jr.Timeline.Events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// An initial sync builds many rooms' sections at once (joinedRooms); each
// section must hold its own room's timeline.
func TestInitialSync_EveryRoomGetsItsOwnSection(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newSyncWorld(t, db)
		const alice = "@alice:hs1"
		body := map[string]string{}
		for range 3 * joinWorkers {
			r := w.room(alice)
			body[r] = "message in room " + r
			w.say(r, alice, body[r])
		}
		resp := w.sync(alice, "")
		if len(resp.Rooms.Join) != len(body) {
			t.Fatalf("%d joined rooms, want %d", len(resp.Rooms.Join), len(body))
		}
		for r, want := range body {
			evs := resp.Rooms.Join[r].Timeline.Events
			last := evs[len(evs)-1]
			var c struct{ Body string }
			if err := json.Unmarshal(last.Content, &c); err != nil || c.Body != want {
				t.Errorf("room %s ends with %s %q, want its own message", r, last.Type, c.Body)
			}
		}
	})
}
