package push

import (
	"context"
	"errors"
	"testing"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// A local message's notifications commit with it: the moment the send
// returns, the other members' counts include it and its push is queued,
// without the notifier's pass behind the commits. That pass, and a
// restarted notifier evaluating again from its stored cursor, add
// nothing: no count twice, no second push.
func TestPreCommit_LocalMessageCountsCommitWithTheEvent(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		n, e, _ := newNotifier(t, db)
		e.SetPreCommitter(n)
		alice, bob, carol := "@alice:"+benchServer, "@bob:"+benchServer, "@carol:"+benchServer
		room := roomstest.PublicRoom(t, e, alice, bob, carol)
		if err := n.cfg.Store.SetPusher(ctx, pushstore.Pusher{UserID: bob, DeviceID: "D", Kind: "http", AppID: "app",
			PushKey: "key", Data: `{"url":"http://127.0.0.1/_matrix/push/v1/notify"}`}, false); err != nil {
			t.Fatal(err)
		}
		pushers, err := n.cfg.Store.PushersOfUsers(ctx, []string{bob})
		if err != nil || len(pushers[bob]) != 1 {
			t.Fatalf("bob's pushers %v %v", pushers, err)
		}
		pusher := pushers[bob][0].ID

		roomstest.Say(t, e, room, alice, "hello")
		counts := func(who string, user string, want int) {
			t.Helper()
			c, err := n.unreadCounts(ctx, user, []string{room}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := c[room].Room.NotificationCount; got != want {
				t.Fatalf("%s: %s has %d notifications, want %d", who, user, got, want)
			}
		}
		counts("right after the send", bob, 1)
		counts("right after the send", carol, 1)
		counts("right after the send", alice, 0)
		if cur, _ := n.cfg.Store.Cursor(ctx); cur >= e.Stream().Current() || n.Current() >= e.Stream().Current() {
			t.Fatalf("the notifier's cursor %d (stored %d) already covers the message: the test proves nothing", n.Current(), cur)
		}
		jobs := func(who string, want int) {
			t.Helper()
			got := 0
			for {
				j, err := n.cfg.Store.NextJob(ctx, pusher)
				if errors.Is(err, pushstore.ErrNotFound) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got++
				if err := n.cfg.Store.DeleteJob(ctx, j.ID); err != nil { // delivered
					t.Fatal(err)
				}
			}
			if got != want {
				t.Fatalf("%s: %d pushes queued for bob, want %d", who, got, want)
			}
		}
		jobs("right after the send", 1)
		// A sync woken by the message waits for nothing: every position
		// up to it was evaluated at its commit.
		pos := e.Stream().Current()
		n.CatchUp(ctx, pos)
		if n.Current() < pos {
			t.Fatalf("after CatchUp the notifier stands at %d, the message at %d", n.Current(), pos)
		}

		if err := n.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
		counts("after the pass behind the commits", bob, 1)
		jobs("after the pass behind the commits", 0)

		// A restart: the stored cursor lags (it is written now and then),
		// so the message is evaluated again.
		again, err := NewNotifier(ctx, n.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
		counts("after evaluating again", bob, 1)
		jobs("after evaluating again", 0)
	})
}

// A reaction to a message of the same batch cannot find its thread in the
// store before the commit: such a batch is left to the pass behind the
// commits, which still counts it once.
func TestPreCommit_BatchRelatingToItselfIsLeftToThePassBehind(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		n, e, _ := newNotifier(t, db)
		alice, bob := "@alice:"+benchServer, "@bob:"+benchServer
		room := roomstest.PublicRoom(t, e, alice, bob)
		root := roomstest.Say(t, e, room, alice, "root")
		reply, err := e.Send(ctx, room, &event.Builder{Type: event.TypeMessage, Sender: alice,
			Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": "in thread",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.EventID()}})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := rooms.PreCommitBatch{RoomID: room, Joined: map[string]bool{alice: true, bob: true}, Events: []rooms.PreCommitEvent{
			{Event: root, StreamPos: 1000, StateBefore: emptyState{}},
			{Event: reply, StreamPos: 1001, StateBefore: emptyState{}},
		}}
		if work, err := n.PrepareCommit(ctx, b); !errors.Is(err, errRelatesInBatch) {
			t.Fatalf("a batch relating to itself prepared %d pieces of work, err %v", len(work), err)
		}
		if err := n.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := n.unreadCounts(ctx, bob, []string{room}, true)
		if err != nil || c[room].Room.NotificationCount != 1 || c[room].Threads[root.EventID()].NotificationCount != 1 {
			t.Fatalf("bob's counts %+v %v", c[room], err)
		}
	})
}

type emptyState struct{}

func (emptyState) Get(string, string) *event.Event { return nil }
