package roomstore

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// The rooms a server's users are joined to now, each with its latest
// position up to a bound: left rooms and other servers' rooms do not count.
func TestRoomsWithServer_JoinedRoomsOfThatServer(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		member := func(room, user, membership string, depth int64) *event.Event {
			return buildEvent(t, &event.Builder{Type: event.TypeMember, RoomID: room, Sender: user, StateKey: &user, Depth: depth,
				OriginServerTS: depth, Content: []byte(`{"membership":"` + membership + `"}`)})
		}
		if err := s.Write(ctx, func(w *Writer) error {
			for i, ev := range []*event.Event{
				member("!a:hs1", "@x:remote.example", "join", 1),
				member("!b:hs1", "@y:remote.example", "leave", 2),
				member("!c:hs1", "@z:other.example", "join", 3),
				messageIn(t, "!a:hs1", 4),
			} {
				pos := int64(i + 1)
				if _, err := w.InsertEvent(NewEvent{Event: ev, StreamPos: pos}); err != nil {
					return err
				}
				if ev.StateKey() != nil {
					if err := w.SetCurrentState(ev, pos); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.RoomsWithServer(ctx, "remote.example", 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].RoomID != "!a:hs1" || got[0].StreamPos != 1 {
			t.Fatalf("got %+v, want !a:hs1 at 1", got)
		}
	})
}
