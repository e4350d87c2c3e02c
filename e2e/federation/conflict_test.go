package fede2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Users on hs1 and hs2 with equal power change the topic at the same time.
// Whatever order the events arrive in, state resolution must give both
// servers the same current state (server-server-api, "Room State
// Resolution"; room versions 11 and 12 use state resolution v2 and v2.1,
// which order conflicting power-equal events by origin_server_ts and event
// ID). Each room version runs twice:
//
//   - simultaneous: both PUT the topic at once, several rounds. Whether a
//     round forks the room depends on timing, so this mostly shows that
//     racing writes converge.
//   - partitioned: hs2 is stopped while alice sets the topic, then hs1 is
//     stopped while bob sets it, so each event is sent without the other
//     and the room certainly forks; then both are up again and deliver.
func TestFederation_ConflictingTopicsConverge(t *testing.T) {
	t.Parallel()
	type room struct{ name, id string }
	// Each subtest has its own servers, so that one's trouble does not
	// spill into the other.
	setup := func(t *testing.T, tag string) (hs1, hs2 *homeserver, alice, bob *client, rooms []*room) {
		c := newCluster(t)
		hs1, hs2 = c.add("hs1"), c.add("hs2")
		alice, bob = hs1.register(t, "alice"), hs2.register(t, "bob")
		rooms = []*room{{name: tag + ", v11, both at power 100"}, {name: tag + ", v12, both creators"}}
		rooms[0].id = alice.createRoom(t, map[string]any{
			"room_version": "11", "preset": "public_chat", "name": rooms[0].name,
			"power_level_content_override": map[string]any{"users": map[string]any{alice.userID: 100, bob.userID: 100}},
		})
		// Room version 12: creators outrank every power level, so equal
		// power means both are creators.
		rooms[1].id = alice.createRoom(t, map[string]any{
			"room_version": "12", "preset": "public_chat", "name": rooms[1].name,
			"creation_content": map[string]any{"additional_creators": []string{bob.userID}},
		})
		for _, r := range rooms {
			bob.join(t, r.id, hs1.name)
			waitMembership(t, r.id, map[string]string{bob.userID: "join"}, alice, bob)
		}
		return hs1, hs2, alice, bob, rooms
	}

	t.Run("simultaneous", func(t *testing.T) {
		t.Parallel()
		_, _, alice, bob, rooms := setup(t, "simultaneous")
		const rounds = 5
		for _, r := range rooms {
			var ids []string
			for i := 0; i < rounds; i++ {
				var wg sync.WaitGroup
				start := make(chan struct{})
				got := make([]string, 2)
				errs := make([]error, 2)
				for j, u := range []*client{alice, bob} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						got[j], errs[j] = u.putState(context.Background(), r.id, "m.room.topic", "",
							map[string]any{"topic": fmt.Sprintf("%s round %d", u.s.label, i)})
					}()
				}
				close(start)
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatalf("%s: %v", r.name, err)
					}
				}
				ids = append(ids, got...)
			}
			checkConverged(t, r.name, r.id, ids, alice, bob)
		}
	})

	t.Run("partitioned", func(t *testing.T) {
		t.Parallel()
		hs1, hs2, alice, bob, rooms := setup(t, "partitioned")
		ids := map[string][]string{}
		hs2.stop()
		for _, r := range rooms {
			ids[r.id] = append(ids[r.id], alice.setState(t, r.id, "m.room.topic", "", map[string]any{"topic": "alice while hs2 was down"}))
		}
		hs1.stop()
		hs2.start()
		for _, r := range rooms {
			ids[r.id] = append(ids[r.id], bob.setState(t, r.id, "m.room.topic", "", map[string]any{"topic": "bob while hs1 was down"}))
		}
		hs1.start()
		for _, r := range rooms {
			st := checkConverged(t, r.name, r.id, ids[r.id], alice, bob)
			// The two topics are concurrent, non-power events of the same
			// mainline position, so state resolution applies them in
			// (origin_server_ts, event_id) order and the later one stays
			// (server-server-api, "Room State Resolution", mainline ordering).
			a, b := alice.event(t, r.id, ids[r.id][0]), alice.event(t, r.id, ids[r.id][1])
			want := b
			if a.OriginServerTS > b.OriginServerTS || (a.OriginServerTS == b.OriginServerTS && a.EventID > b.EventID) {
				want = a
			}
			if got := st[stateKey{"m.room.topic", ""}].EventID; got != want.EventID {
				t.Errorf("%s: resolved topic %s, want %s, the later of %s (ts %d) and %s (ts %d)",
					r.name, got, want.EventID, a.EventID, a.OriginServerTS, b.EventID, b.OriginServerTS)
			}
		}
	})
}

// checkConverged waits until every client's server has every event of
// eventIDs, then until their current states agree, and checks that the
// agreed topic is one of eventIDs.
func checkConverged(t *testing.T, name, roomID string, eventIDs []string, clients ...*client) roomState {
	t.Helper()
	clients[0].s.c.eventually(t, name+": every topic event on every server", syncBound, func() string {
		var missing []string
		for _, c := range clients {
			for _, id := range eventIDs {
				if !c.hasEvent(t, roomID, id) {
					missing = append(missing, c.s.label+" lacks "+id)
				}
			}
		}
		return strings.Join(missing, "\n")
	})
	st := requireSameState(t, roomID, clients...)
	topic := st[stateKey{"m.room.topic", ""}]
	if !contains(eventIDs, topic.EventID) {
		t.Errorf("%s: the agreed topic is %s (%q), not one of the conflicting events %v", name, topic.EventID, topic.str("topic"), eventIDs)
	}
	t.Logf("%s: both servers resolved the topic to %q (%s)", name, topic.str("topic"), topic.EventID)
	return st
}

// field returns content[key] as decoded JSON, or nil, for messages.
func (e event) field(key string) any {
	var c map[string]any
	_ = json.Unmarshal(e.Content, &c)
	return c[key]
}

// putState sends a state event without a testing.TB, for goroutines.
func (c *client) putState(ctx context.Context, roomID, typ, stateKey string, content map[string]any) (string, error) {
	x, err := c.do(ctx, "PUT", roomPath(roomID)+"/state/"+url.PathEscape(typ)+"/"+url.PathEscape(stateKey), content)
	if err != nil {
		return "", err
	}
	var resp struct {
		EventID string `json:"event_id"`
	}
	if x.Status != http.StatusOK || json.Unmarshal(x.RespBody, &resp) != nil || resp.EventID == "" {
		return "", fmt.Errorf("%s", x)
	}
	return resp.EventID, nil
}

// setState sends a state event and returns its ID.
func (c *client) setState(t testing.TB, roomID, typ, stateKey string, content map[string]any) string {
	t.Helper()
	id, err := c.putState(context.Background(), roomID, typ, stateKey, content)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// event fetches one event with GET /rooms/{roomId}/event/{eventId}.
func (c *client) event(t testing.TB, roomID, eventID string) event {
	t.Helper()
	var e event
	c.must(t, "GET", roomPath(roomID)+"/event/"+url.PathEscape(eventID), nil, &e)
	return e
}

// hasEvent reports whether GET /rooms/{roomId}/event/{eventId} finds it.
func (c *client) hasEvent(t testing.TB, roomID, eventID string) bool {
	t.Helper()
	x, err := c.do(context.Background(), "GET", roomPath(roomID)+"/event/"+url.PathEscape(eventID), nil)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case x.Status == http.StatusOK:
		return true
	case x.Status == http.StatusNotFound:
		return false
	}
	t.Fatalf("unexpected answer:\n%s", x)
	return false
}

// Conflicting power changes made on hs1 and hs2 while they cannot reach
// each other end, once both are up again, in the same state on both, the
// one state resolution prescribes (server-server-api, "Room State
// Resolution"; rooms/v2.md and rooms/v12.md, "State resolution"). hs2 is
// stopped while alice acts on hs1, then hs1 while bob acts on hs2, so each
// room certainly forks; then both run and deliver.
//
//   - power levels against power levels, senders of equal power (v11:
//     both at 100; v12: both creators): the reverse topological power
//     ordering sorts equal-power events by origin_server_ts, then event ID,
//     and the later one, applied last, is the resolved power levels.
//   - a ban against a demotion (v11: alice 100, bob 50; v12: alice the
//     creator, bob 50): alice demotes bob to 0 while bob bans carol. alice
//     outranks bob, so her demotion comes first in the ordering, and bob's
//     ban, checked against it, fails the auth rules and is left out: carol
//     stays joined, although the ban is the later event.
func TestFederation_ConflictingPowerLevelsAndBansConverge(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, carol, bob := hs1.register(t, "alice"), hs1.register(t, "carol"), hs2.register(t, "bob")

	type room struct {
		name, id      string
		banVsDemotion bool
		ids           []string // [alice's event, bob's event]
	}
	rooms := []*room{
		{name: "power levels vs power levels, v11, both at 100", id: alice.createRoom(t, map[string]any{
			"room_version": "11", "preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{alice.userID: 100, bob.userID: 100}},
		})},
		{name: "power levels vs power levels, v12, both creators", id: alice.createRoom(t, map[string]any{
			"room_version": "12", "preset": "public_chat",
			"creation_content": map[string]any{"additional_creators": []string{bob.userID}},
		})},
		{name: "ban vs demotion, v11", banVsDemotion: true, id: alice.createRoom(t, map[string]any{
			"room_version": "11", "preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{alice.userID: 100, bob.userID: 50}},
		})},
		{name: "ban vs demotion, v12", banVsDemotion: true, id: alice.createRoom(t, map[string]any{
			"room_version": "12", "preset": "public_chat",
			"power_level_content_override": map[string]any{"users": map[string]any{bob.userID: 50}},
		})},
	}
	for _, r := range rooms {
		bob.join(t, r.id, hs1.name)
		carol.join(t, r.id)
		waitMembership(t, r.id, map[string]string{bob.userID: "join", carol.userID: "join"}, alice, bob)
	}

	// plWith returns the room's current power levels with change applied.
	plWith := func(u *client, roomID string, change func(pl map[string]any)) map[string]any {
		pl := map[string]any{}
		if err := json.Unmarshal(u.state(t, roomID)[stateKey{"m.room.power_levels", ""}].Content, &pl); err != nil {
			t.Fatal(err)
		}
		change(pl)
		return pl
	}
	setUser := func(user string, level int) func(map[string]any) {
		return func(pl map[string]any) {
			users, _ := pl["users"].(map[string]any)
			if users == nil {
				users = map[string]any{}
			}
			users[user] = level
			pl["users"] = users
		}
	}

	hs2.stop()
	for _, r := range rooms {
		change := func(pl map[string]any) { pl["ban"] = 60 }
		if r.banVsDemotion {
			change = setUser(bob.userID, 0)
		}
		r.ids = append(r.ids, alice.setState(t, r.id, "m.room.power_levels", "", plWith(alice, r.id, change)))
	}
	hs1.stop()
	hs2.start()
	for _, r := range rooms {
		if r.banVsDemotion {
			// hs2 has not heard of the demotion: bob still has power 50.
			bob.membership(t, r.id, "ban", carol.userID)
			ban := bob.state(t, r.id)[stateKey{"m.room.member", carol.userID}]
			if ban.str("membership") != "ban" || ban.Sender != bob.userID {
				t.Fatalf("%s: after bob's ban hs2 has carol's membership %s from %s", r.name, ban.Content, ban.Sender)
			}
			r.ids = append(r.ids, ban.EventID)
			continue
		}
		r.ids = append(r.ids, bob.setState(t, r.id, "m.room.power_levels", "", plWith(bob, r.id, func(pl map[string]any) { pl["kick"] = 70 })))
	}
	hs1.start()

	for _, r := range rooms {
		// hs1 may soft-fail bob's ban (it fails against hs1's current
		// state), and then no client sees it. A message bob sends after it
		// cites it, or an event after it, so once alice sees the message
		// hs1 has processed the ban.
		after := bob.sendText(t, r.id, "bob, after the partition")
		c.eventually(t, r.name+": both conflicting events on both servers", syncBound, func() string {
			var missing []string
			for _, u := range []*client{alice, bob} {
				for _, id := range append([]string{after}, r.ids...) {
					if r.banVsDemotion && u == alice && id == r.ids[1] {
						continue
					}
					if !u.hasEvent(t, r.id, id) {
						missing = append(missing, u.s.label+" lacks "+id)
					}
				}
			}
			return strings.Join(missing, "\n")
		})
		st := requireSameState(t, r.id, alice, bob)
		pl := st[stateKey{"m.room.power_levels", ""}]
		if !r.banVsDemotion {
			a, b := bob.event(t, r.id, r.ids[0]), bob.event(t, r.id, r.ids[1])
			want := b
			if a.OriginServerTS > b.OriginServerTS || (a.OriginServerTS == b.OriginServerTS && a.EventID > b.EventID) {
				want = a
			}
			if pl.EventID != want.EventID {
				t.Errorf("%s: resolved power levels %s, want %s, the later of %s (ts %d) and %s (ts %d)",
					r.name, pl.EventID, want.EventID, a.EventID, a.OriginServerTS, b.EventID, b.OriginServerTS)
			}
			t.Logf("%s: both servers resolved to power levels %s (ban %v, kick %v)", r.name, pl.EventID, pl.field("ban"), pl.field("kick"))
			continue
		}
		if pl.EventID != r.ids[0] {
			t.Errorf("%s: resolved power levels %s, want alice's demotion of bob %s", r.name, pl.EventID, r.ids[0])
		}
		if m := st.membershipOf(carol.userID); m != "join" {
			t.Errorf("%s: carol's membership resolved to %q (%s), want join: bob's ban must lose to his demotion",
				r.name, m, st[stateKey{"m.room.member", carol.userID}].EventID)
		}
		t.Logf("%s: both servers resolved to power levels %s and carol %s", r.name, pl.EventID, st.membershipOf(carol.userID))
	}
}
