package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/presencestore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const alice, bob, rita = "@alice:hs1", "@bob:hs1", "@rita:hs2"

type world struct {
	t     *testing.T
	ctx   context.Context
	db    *sqldb.DB
	e     *rooms.Engine
	clock *roomstest.Clock
	store *presencestore.Store
	svc   *Service
	room  string
}

func newWorld(t *testing.T, db *sqldb.DB, members ...string) *world {
	t.Helper()
	e := roomstest.NewEngine(t, db, "hs1")
	w := &world{t: t, ctx: context.Background(), db: db, e: e, clock: roomstest.NewClock()}
	var err error
	if w.store, err = presencestore.New(w.ctx, db); err != nil {
		t.Fatal(err)
	}
	w.svc = w.restart()
	w.room = roomstest.PublicRoom(t, e, alice, members...)
	return w
}

func (w *world) restart() *Service {
	w.t.Helper()
	svc, err := New(w.ctx, Config{Store: w.store, Rooms: w.e, ServerName: "hs1", Enabled: true, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return svc
}

func (w *world) get(userID string) Content {
	w.t.Helper()
	c, err := w.svc.Get(w.ctx, userID, userID)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) tick() {
	w.t.Helper()
	if err := w.svc.Tick(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

// client-server-api "Idle timeout" and Synapse's timers: a syncing user is
// online, unavailable after IdleTimeout without activity, and offline
// SyncOnlineTimeout after their last sync ends; activity brings them back.
func TestPresence_IdleAndOfflineTimeouts(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		done, err := w.svc.Syncing(w.ctx, alice, "")
		if err != nil {
			t.Fatal(err)
		}
		if c := w.get(alice); c.Presence != Online || c.CurrentlyActive == nil || !*c.CurrentlyActive {
			t.Fatalf("syncing: %+v, want online and currently active", c)
		}
		w.clock.Add(ActiveGranularity + time.Second)
		w.tick()
		if c := w.get(alice); c.Presence != Online || *c.CurrentlyActive || *c.LastActiveAgo != (ActiveGranularity+time.Second).Milliseconds() {
			t.Fatalf("a minute on: %+v, want online, not currently active", c)
		}
		w.clock.Add(IdleTimeout)
		w.tick()
		if c := w.get(alice); c.Presence != Unavailable {
			t.Fatalf("idle: %+v, want unavailable", c)
		}
		// A message is activity: online again.
		if err := w.svc.active(w.ctx, alice); err != nil {
			t.Fatal(err)
		}
		if c := w.get(alice); c.Presence != Online || !*c.CurrentlyActive {
			t.Fatalf("after activity: %+v", c)
		}
		done()
		w.clock.Add(SyncOnlineTimeout)
		w.tick()
		if c := w.get(alice); c.Presence != Online {
			t.Fatalf("just at the sync timeout: %+v", c)
		}
		w.clock.Add(time.Second)
		w.tick()
		if c := w.get(alice); c.Presence != Offline {
			t.Fatalf("not syncing for longer than SyncOnlineTimeout: %+v, want offline", c)
		}
	})
}

// set_presence=unavailable marks the user unavailable; offline leaves
// presence alone; PUT sets the state and status message durably, and a
// restarted service still has them.
func TestPresence_SetPresenceAndRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		done, _ := w.svc.Syncing(w.ctx, alice, Offline)
		done()
		if c := w.get(alice); c.Presence != Offline {
			t.Fatalf("set_presence=offline changed presence: %+v", c)
		}
		done, _ = w.svc.Syncing(w.ctx, alice, Unavailable)
		if c := w.get(alice); c.Presence != Unavailable {
			t.Fatalf("set_presence=unavailable: %+v", c)
		}
		msg := "in a meeting"
		if err := w.svc.Set(w.ctx, alice, Online, &msg); err != nil {
			t.Fatal(err)
		}
		done()
		w.svc = w.restart()
		if c := w.get(alice); c.Presence != Online || c.StatusMsg == nil || *c.StatusMsg != msg {
			t.Fatalf("after a restart: %+v", c)
		}
		// Taken over, but offline unless they sync again.
		w.clock.Add(SyncOnlineTimeout + time.Second)
		w.tick()
		if c := w.get(alice); c.Presence != Offline || c.StatusMsg == nil {
			t.Errorf("a user who did not come back: %+v, want offline keeping the status message", c)
		}
		if err := w.svc.Set(w.ctx, alice, "away", nil); err == nil {
			t.Error("an invalid state was accepted")
		}
	})
}

// Presence must not cost the hot path: once users are online, syncing and
// sending write nothing to the database. The rows are removed behind the
// service's back; syncs that wrote would bring them back.
func TestPresence_SyncingOnlineUsersWritesNothing(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		const users = 1000
		for i := 0; i < users; i++ {
			done, err := w.svc.Syncing(w.ctx, fmt.Sprintf("@u%d:hs1", i), "")
			if err != nil {
				t.Fatal(err)
			}
			done()
		}
		if ps, _ := w.store.NotOffline(w.ctx, 2*users); len(ps) != users {
			t.Fatalf("%d users stored online, want %d", len(ps), users)
		}
		if _, err := db.Write.ExecContext(w.ctx, `DELETE FROM presence`); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 3; round++ {
			w.clock.Add(time.Second)
			for i := 0; i < users; i++ {
				done, err := w.svc.Syncing(w.ctx, fmt.Sprintf("@u%d:hs1", i), "")
				if err != nil {
					t.Fatal(err)
				}
				done()
			}
			w.tick()
		}
		var n int
		if err := db.Read.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM presence`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("syncing online users wrote %d presence rows", n)
		}
	})
}

// server-server-api "Presence": updates count only for the origin's own
// users who share a room with us; a remote user times out after
// FederationTimeout.
func TestPresence_ReceivedEDUsAreChecked(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db, rita)
		edu := func(origin, user, state string) error {
			content, _ := json.Marshal(map[string]any{"push": []any{map[string]any{
				"user_id": user, "presence": state, "last_active_ago": 1000, "currently_active": true}}})
			return w.svc.HandleEDU(w.ctx, federationapi.InboundEDU{Origin: origin, Type: EDUType, Content: content})
		}
		if err := edu("evil.test", rita, Online); err == nil {
			t.Error("a forged update for hs2's user was taken")
		}
		if err := edu("hs2", "@stranger:hs2", Online); err == nil {
			t.Error("an update for a user sharing no room was taken")
		}
		if err := edu("hs2", rita, "sleeping"); err == nil {
			t.Error("an invalid state was taken")
		}
		c, err := w.svc.Get(w.ctx, alice, rita)
		if err != nil || c.Presence != Offline {
			t.Fatalf("after refused updates: %+v, %v", c, err)
		}
		if err := edu("hs2", rita, Online); err != nil {
			t.Fatal(err)
		}
		c, _ = w.svc.Get(w.ctx, alice, rita)
		if c.Presence != Online || c.CurrentlyActive == nil || !*c.CurrentlyActive || *c.LastActiveAgo != 1000 {
			t.Fatalf("alice sees rita as %+v", c)
		}
		if _, err := w.svc.Get(w.ctx, bob, rita); err == nil {
			t.Error("bob, who shares no room with rita, may see her presence")
		}
		w.clock.Add(FederationTimeout + time.Second)
		w.tick()
		if c, _ := w.svc.Get(w.ctx, alice, rita); c.Presence != Offline {
			t.Errorf("rita after FederationTimeout: %+v", c)
		}
	})
}
