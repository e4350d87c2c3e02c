package rooms

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// backfillPeer answers backfill requests from another engine, as its
// /backfill endpoint would, counting the requests.
type backfillPeer struct {
	peerFetcher
	calls *int
}

func (p backfillPeer) Backfill(ctx context.Context, roomID string, from []string, limit int) ([]*event.Event, error) {
	*p.calls++
	return p.peer.Backfill(ctx, roomID, from, limit)
}

// allBodies lists the message bodies of a room's whole timeline, including
// backfilled history, oldest first.
func allBodies(t *testing.T, s *fedServer, roomID string) []string {
	t.Helper()
	return bodiesAfter(t, s, roomID, -1<<62)
}

// A server that joined a room late fills in the history before its join
// from a server in the room (server-server-api "Backfilling and retrieving
// missing events"), page by page, in order, below its own timeline; once
// it holds the create event there is nothing left to ask for.
func TestBackfillFillsHistoryBeforeTheJoin(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		for _, ver := range []roomversion.ID{"1", "10", "12"} {
			t.Run("v"+string(ver), func(t *testing.T) {
				hs1 := newFedServer(t, secondDB(t, db), "hs1", 1)
				hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
				ctx := context.Background()
				roomID, err := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat", Version: roomversion.MustGet(ver)})
				if err != nil {
					t.Fatal(err)
				}
				var history []string
				for i := 0; i < 15; i++ {
					b := fmt.Sprintf("history %02d", i)
					if _, err := hs1.e.Send(ctx, roomID, msg("@alice:hs1", b), nil); err != nil {
						t.Fatal(err)
					}
					history = append(history, b)
				}
				joinVia(t, hs2, hs1, roomID, "@bob:hs2")
				live, _ := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "live"), nil)
				deliver(t, hs2, hs1, roomID, live)
				posBefore := hs2.e.Stream().Current()

				calls := 0
				peer := backfillPeer{peerFetcher{hs1.e}, &calls}
				total := 0
				for round := 0; round < 10; round++ {
					n, err := hs2.e.BackfillFrom(ctx, roomID, peer, 8)
					if err != nil {
						t.Fatalf("backfill round %d: %v", round, err)
					}
					if n == 0 {
						break
					}
					total += n
				}
				want := strings.Join(append(append([]string{}, history...), "live"), "|")
				if got := strings.Join(allBodies(t, hs2, roomID), "|"); got != want {
					t.Errorf("hs2's timeline after backfill =\n%s\nwant\n%s", got, want)
				}
				if exts, _ := hs2.e.BackwardExtremities(ctx, roomID); len(exts) != 0 {
					t.Errorf("backward extremities after a complete backfill = %v, want none", exts)
				}
				before := calls
				if n, _ := hs2.e.BackfillFrom(ctx, roomID, peer, 8); n != 0 || calls != before {
					t.Errorf("a room with its create event held still asked for backfill (%d events, %d requests)", n, calls-before)
				}
				// History never moves the live stream or the current state.
				if hs2.e.Stream().Current() != posBefore {
					t.Errorf("backfill moved the live stream from %d to %d", posBefore, hs2.e.Stream().Current())
				}
				if got := strings.Join(timelineBodies(t, hs2, roomID), "|"); got != "live" {
					t.Errorf("live timeline (positive positions) = %s, want only the live message", got)
				}
				assertSameState(t, roomID, hs1, hs2)
				if total < len(history) {
					t.Errorf("backfill reported %d events, want at least %d", total, len(history))
				}
			})
		}
	})
}

// Backfilled events are checked like any received event: one that breaks
// the auth rules is stored rejected and never joins the timeline.
func TestBackfillRejectsUnauthorisedHistory(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		hs1 := newFedServer(t, secondDB(t, db), "hs1", 1)
		hs2 := newFedServer(t, secondDB(t, db), "hs2", 2)
		ctx := context.Background()
		roomID, _ := hs1.e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
		good, _ := hs1.e.Send(ctx, roomID, msg("@alice:hs1", "good"), nil)
		joinVia(t, hs2, hs1, roomID, "@bob:hs2")

		// A forged history event: sent by someone who was never in the room,
		// with prev events that lead back to real history.
		v := good.Version()
		b := msg("@mallory:hs1", "forged")
		b.RoomID = roomID
		b.PrevEvents = []string{good.EventID()}
		b.AuthEvents = good.AuthEventIDs()
		b.Depth = good.Depth() + 1
		b.OriginServerTS = good.OriginServerTS() + 1
		forged, err := b.Build(v, "hs1", hs1.key)
		if err != nil {
			t.Fatal(err)
		}
		exts, _ := hs2.e.BackwardExtremities(ctx, roomID)
		if len(exts) == 0 {
			t.Fatal("no backward extremities after a late join")
		}
		lying := lyingPeer{peerFetcher{hs1.e}, forged}
		if _, err := hs2.e.BackfillFrom(ctx, roomID, lying, 20); err != nil {
			t.Fatal(err)
		}
		for _, body := range allBodies(t, hs2, roomID) {
			if body == "forged" {
				t.Fatal("an event that fails the auth rules reached the timeline through backfill")
			}
		}
		if se, err := hs2.e.Store().Event(ctx, forged.EventID()); err == nil && !se.Rejected {
			t.Errorf("the forged event is stored and not marked rejected: %+v", se)
		}
	})
}

// lyingPeer adds an extra event to every backfill answer.
type lyingPeer struct {
	peerFetcher
	extra *event.Event
}

func (p lyingPeer) Backfill(ctx context.Context, roomID string, from []string, limit int) ([]*event.Event, error) {
	evs, err := p.peer.Backfill(ctx, roomID, from, limit)
	return append(evs, p.extra), err
}
