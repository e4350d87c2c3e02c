package federationapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Bursts that never refill while a test runs; refilling is covered by
// internal/ratelimit with an injected clock.
func limits(l map[ratelimit.Action]ratelimit.Limit) *ratelimit.Limiter {
	return ratelimit.New(l, nil)
}

func (r *rig) makeJoin(origin, roomID, userID string) (int, []byte) {
	return r.do(origin, "GET", "/_matrix/federation/v1/make_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(userID)+"?ver=10", nil)
}

// rc_joins_per_room: a room whose recent joins spent its bucket refuses
// make_join from other servers too, as Synapse does.
func TestMakeJoin_RefusedWhileRoomJoinsAreSpent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		busy, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		quiet, err := r.hs1.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		r.api.Limits = limits(map[ratelimit.Action]ratelimit.Limit{ratelimit.JoinsPerRoom: {PerSecond: 0.0001, BurstCount: 2}})
		// The server's commit hook counts each join stored in the room.
		r.api.Limits.Charge(ratelimit.JoinsPerRoom, busy)
		status, body := r.makeJoin("hs2.test", busy, "@bob:hs2.test")
		r.expect("make_join with one join left", http.StatusOK, status, body)
		r.api.Limits.Charge(ratelimit.JoinsPerRoom, busy)
		status, body = r.makeJoin("hs2.test", busy, "@bob:hs2.test")
		r.expect("make_join once spent", http.StatusTooManyRequests, status, body)
		status, body = r.makeJoin("hs2.test", quiet, "@bob:hs2.test")
		r.expect("make_join to another room", http.StatusOK, status, body)
	})
}

// rc_invites.per_user counts the invites one of our users receives from
// other servers (Synapse leaves the per-room count to the sending server).
func TestInvite_PerInviteeLimit(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		const carol = "@carol:hs2.test"
		roomID, err := r.hs2.e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: carol, Preset: "private_chat", Version: roomversion.MustGet("10")})
		if err != nil {
			t.Fatal(err)
		}
		r.api.Limits = limits(map[ratelimit.Action]ratelimit.Limit{ratelimit.InvitesPerUser: {PerSecond: 0.0001, BurstCount: 1}})
		invite := func(target string) (int, []byte) {
			t.Helper()
			ev, err := r.hs2.e.BuildEvent(ctx, roomID, &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: carol,
				Content: json.RawMessage(`{"membership":"invite"}`)})
			if err != nil {
				t.Fatal(err)
			}
			return r.do("hs2.test", "PUT", "/_matrix/federation/v2/invite/"+url.PathEscape(roomID)+"/"+url.PathEscape(ev.EventID()),
				map[string]any{"room_version": "10", "event": json.RawMessage(ev.FederationJSON()), "invite_room_state": []any{}})
		}
		status, body := invite("@alice:" + us)
		r.expect("first invite", http.StatusOK, status, body)
		status, body = invite("@alice:" + us)
		r.expect("second invite to the same user", http.StatusTooManyRequests, status, body)
		status, body = invite("@dave:" + us)
		r.expect("an invite to someone else", http.StatusOK, status, body)
	})
}

// rc_federation applies to every authenticated request, per origin: while
// more of a server's requests wait than reject_limit allows, its new ones
// are refused with 429; other servers are served meanwhile.
func TestFederationThrottle_RejectsBusyOriginOnly(t *testing.T) {
	r := newRig(t, storagetest.NewSQLite(t))
	roomID, err := r.hs1.e.CreateRoom(context.Background(), rooms.CreateRoomRequest{Creator: "@alice:" + us, Preset: "public_chat", Version: roomversion.MustGet("10")})
	if err != nil {
		t.Fatal(err)
	}
	r.api.Throttle = ratelimit.NewFederation(ratelimit.FederationLimits{WindowSize: time.Second, SleepLimit: 100,
		RejectLimit: 0, Concurrent: 1}, nil, nil)
	// One of hs2's requests is running and another waits for its slot.
	running, err := r.api.Throttle.Enter(context.Background(), "hs2.test")
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan func(), 1)
	go func() {
		release, _ := r.api.Throttle.Enter(context.Background(), "hs2.test")
		waiting <- release
	}()
	for {
		if _, q, _ := r.api.Throttle.Waiting("hs2.test"); q == 1 {
			break
		}
		time.Sleep(time.Millisecond) // waiting for the goroutine to queue, not timing it
	}
	status, body := r.makeJoin("hs2.test", roomID, "@bob:hs2.test")
	r.expect("a third request from hs2", http.StatusTooManyRequests, status, body)
	status, body = r.makeJoin("evil.test", roomID, "@mallory:evil.test")
	r.expect("a request from another server", http.StatusOK, status, body)
	running()
	(<-waiting)()
	status, body = r.makeJoin("hs2.test", roomID, "@bob:hs2.test")
	r.expect("hs2 once its requests are done", http.StatusOK, status, body)
}
