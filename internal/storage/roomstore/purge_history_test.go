package roomstore

import (
	"context"
	"slices"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A history purge removes the timeline events below the depth, but never
// state, never the room's latest event, and not what the kept server's
// users sent.
func TestPurgeHistory_KeepsStateLatestAndLocalEvents(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const room = "!r:hs1"
		name := ""
		msg := func(sender string, depth int64) *event.Event {
			return buildEvent(t, &event.Builder{Type: event.TypeMessage, RoomID: room, Sender: sender, Depth: depth,
				OriginServerTS: 1000 + depth, Content: []byte(`{"msgtype":"m.text","body":"hi"}`)})
		}
		evs := []*event.Event{
			buildEvent(t, &event.Builder{Type: "m.room.name", StateKey: &name, RoomID: room, Sender: "@b:remote", Depth: 1,
				OriginServerTS: 1001, Content: []byte(`{"name":"n"}`)}),
			msg("@a:hs1", 2), msg("@b:remote", 3), msg("@b:remote", 4), msg("@b:remote", 5),
		}
		if err := s.Write(ctx, func(w *Writer) error {
			if err := w.CreateRoom(room, "10", 1); err != nil {
				return err
			}
			for i, ev := range evs {
				if _, err := w.InsertEvent(NewEvent{Event: ev, StreamPos: int64(i + 1)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ids := func(evs ...*event.Event) []string {
			var out []string
			for _, e := range evs {
				out = append(out, e.EventID())
			}
			return out
		}
		purged, err := s.PurgeHistory(ctx, room, HistoryPurge{BeforeDepth: 10, KeepServer: "hs1"})
		if err != nil {
			t.Fatal(err)
		}
		if want := ids(evs[2], evs[3]); !slices.Equal(purged, want) {
			t.Fatalf("purged %v, want the remote messages but the latest %v", purged, want)
		}
		for _, ev := range evs {
			_, err := s.Event(ctx, ev.EventID())
			if gone := slices.Contains(purged, ev.EventID()); gone != (err != nil) {
				t.Errorf("event at depth %d: purged %v, read error %v", ev.Depth(), gone, err)
			}
		}
		// Without a kept server, the local message goes too; a depth at or
		// below an event's keeps it.
		if purged, err = s.PurgeHistory(ctx, room, HistoryPurge{BeforeDepth: 2}); err != nil || len(purged) != 0 {
			t.Fatalf("purge below depth 2: %v %v, want nothing", purged, err)
		}
		if purged, err = s.PurgeHistory(ctx, room, HistoryPurge{BeforeDepth: 10}); err != nil || !slices.Equal(purged, ids(evs[1])) {
			t.Fatalf("purge of local events: %v %v, want the local message", purged, err)
		}
		if depth, found, err := s.EventDepthBefore(ctx, room, 1005); err != nil || !found || depth != 1 {
			t.Fatalf("depth before ts 1005: %d %v %v, want the name event's 1", depth, found, err)
		}
		if _, found, err := s.EventDepthBefore(ctx, room, 1001); err != nil || found {
			t.Fatalf("depth before the first event: found %v, %v", found, err)
		}
	})
}
