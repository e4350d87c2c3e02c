package rooms

import (
	"context"
	"sort"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// An event whose auth chain names an event we neither hold nor can fetch is
// not accepted, nor is any event that builds on it, and the room's state
// does not change (server-server-api "Checks performed on receipt of a
// PDU": "Passes authorization rules based on the event's auth events,
// otherwise it is rejected"; with an auth event missing, the rules cannot
// pass).
func TestReceivedEventWithUnfetchableAuthChainIsNotAccepted(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, db, "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")
		room, _ := hs2.e.Store().Room(ctx, roomID)
		v := room.Version
		cur := currentState(t, hs2, roomID)
		authFor := func(extra ...string) []string { return senderAuthEvents(t, hs2, roomID, "@bob:hs2", extra...) }
		exts, _ := hs2.e.Store().ForwardExtremities(ctx, roomID)
		build := func(b *event.Builder) *event.Event {
			t.Helper()
			b.RoomID, b.Sender, b.OriginServerTS = roomID, "@bob:hs2", 1
			ev, err := b.Build(v, "hs2", hs2.key)
			if err != nil {
				t.Fatal(err)
			}
			return ev
		}
		// ghost is a join rules event no server holds: a fabricated ID.
		ghost := "$" + "Z2hvc3Q0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI0Mg"
		if !v.EventIDsAreHashes() {
			ghost = "$ghost:hs2"
		}
		stateKey := "@bob:hs2"
		// mid is fetchable from hs2 but cites the ghost: bob renames
		// himself, an event hs2 never sent.
		mid := build(&event.Builder{Type: event.TypeMember, StateKey: &stateKey,
			Content:    Content(map[string]any{"membership": "join", "displayname": "mid"}),
			PrevEvents: exts, AuthEvents: authFor(ghost), Depth: 50})
		fetch := withExtra{peerFetcher{hs2.e}, map[string]*event.Event{mid.EventID(): mid}}
		before := currentState(t, hs1, roomID)

		direct := build(&event.Builder{Type: event.TypeMember, StateKey: &stateKey,
			Content:    Content(map[string]any{"membership": "join", "displayname": "direct"}),
			PrevEvents: exts, AuthEvents: authFor(ghost), Depth: 60})
		transitive := build(&event.Builder{Type: event.TypeMember, StateKey: &stateKey,
			Content:    Content(map[string]any{"membership": "join", "displayname": "transitive"}),
			PrevEvents: exts, AuthEvents: replace(authFor(), cur[event.StateTuple{Type: event.TypeMember, StateKey: stateKey}], mid.EventID()), Depth: 70})
		dependent := build(&event.Builder{Type: event.TypeMember, StateKey: &stateKey,
			Content:    Content(map[string]any{"membership": "join", "displayname": "dependent"}),
			PrevEvents: []string{transitive.EventID()}, AuthEvents: replace(authFor(), cur[event.StateTuple{Type: event.TypeMember, StateKey: stateKey}], transitive.EventID()), Depth: 80})

		for _, ev := range []*event.Event{direct, transitive, dependent} {
			res := hs1.e.Ingest(ctx, roomID, []*event.Event{ev}, fetch)
			if len(res) != 1 || res[0].Err == nil {
				t.Errorf("%s was accepted: %+v", ev.EventID(), res)
			} else {
				t.Logf("%s: %v", ev.EventID(), res[0].Err)
			}
			if se, err := hs1.e.Store().Event(ctx, ev.EventID()); err == nil && !se.Rejected && !se.Outlier {
				t.Errorf("%s is in the timeline, not rejected", ev.EventID())
			}
		}
		after := currentState(t, hs1, roomID)
		for k, id := range after {
			if before[k] != id {
				t.Errorf("state %v changed from %s to %s", k, before[k], id)
			}
		}
	})
}

// withExtra is a peer that also serves events it never sent in a room.
type withExtra struct {
	peerFetcher
	extra map[string]*event.Event
}

func (f withExtra) FetchEvent(ctx context.Context, roomID, id string) (*event.Event, error) {
	if ev, ok := f.extra[id]; ok {
		return ev, nil
	}
	return f.peerFetcher.FetchEvent(ctx, roomID, id)
}

func replace(ids []string, old, new string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == old {
			id = new
		}
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
