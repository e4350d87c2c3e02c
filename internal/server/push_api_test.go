package server_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type unreadCounts struct {
	Notifications int `json:"notification_count"`
	Highlights    int `json:"highlight_count"`
}

type unreadSync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Unread       *unreadCounts           `json:"unread_notifications"`
			ThreadUnread map[string]unreadCounts `json:"unread_thread_notifications"`
		} `json:"join"`
	} `json:"rooms"`
}

// roomCounts is what a client knows of one room's counts.
type roomCounts struct {
	Room    unreadCounts
	Threads map[string]unreadCounts
}

func (c roomCounts) String() string { return fmt.Sprintf("%+v threads %+v", c.Room, c.Threads) }

// threadFilter asks for counts per thread (client-server-api "Receiving
// notifications").
const threadFilter = `{"room":{"timeline":{"unread_thread_notifications":true}}}`

// counter follows one user's /sync as a client does, keeping the last
// counts the server sent for each room.
type counter struct {
	c      *servertest.Client
	filter string
	since  string
	rooms  map[string]roomCounts
}

func newCounter(c *servertest.Client, filter string) *counter {
	return &counter{c: c, filter: filter, rooms: map[string]roomCounts{}}
}

func (k *counter) sync(timeoutMS int) {
	q := url.Values{}
	if k.filter != "" {
		q.Set("filter", k.filter)
	}
	if k.since != "" {
		q.Set("since", k.since)
		q.Set("timeout", fmt.Sprint(timeoutMS))
	}
	var resp unreadSync
	k.c.MustDo("GET", "/_matrix/client/v3/sync?"+q.Encode(), nil, &resp)
	k.since = resp.NextBatch
	for id, jr := range resp.Rooms.Join {
		if jr.Unread != nil {
			k.rooms[id] = roomCounts{Room: *jr.Unread, Threads: jr.ThreadUnread}
		}
	}
}

// waitFor syncs (long-polling) until the room's counts are want: counts
// are evaluated right after the commit, so they may trail the event's own
// sync by a wake-up. Each round waits for news; a bounded number of
// rounds keeps a wrong count from hanging the test.
func (k *counter) waitFor(t *testing.T, roomID string, want roomCounts) {
	t.Helper()
	if k.since == "" {
		k.sync(0)
	}
	for range 20 {
		if k.rooms[roomID].String() == want.String() {
			return
		}
		k.sync(2000)
	}
	t.Fatalf("counts of %s: %v, want %v", roomID, k.rooms[roomID], want)
}

func counts(n, h int) roomCounts { return roomCounts{Room: unreadCounts{n, h}} }

// client-server-api "Receiving notifications": a message from someone else
// counts as a notification, one that mentions the user also as a
// highlight, and the user's read receipt on the latest event clears both.
func TestPushCounts_MessageMentionAndReceiptReset(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		k := newCounter(bob, "")
		k.waitFor(t, room, counts(0, 0))

		alice.SendText(room, "hello")
		k.waitFor(t, room, counts(1, 0))

		var resp struct {
			EventID string `json:"event_id"`
		}
		alice.MustDo("PUT", servertest.Room(room)+"/send/m.room.message/mention1", map[string]any{
			"msgtype": "m.text", "body": "bob: look", "m.mentions": map[string]any{"user_ids": []string{bob.UserID}}}, &resp)
		k.waitFor(t, room, counts(2, 1))

		// Bob's own messages never count.
		bob.SendText(room, "reading")
		alice.SendText(room, "more")
		k.waitFor(t, room, counts(3, 1))

		// A private receipt resets too; one on an earlier event leaves
		// what follows it unread.
		bob.MustDo("POST", receiptPath(room, "m.read.private", resp.EventID), map[string]any{}, nil)
		k.waitFor(t, room, counts(1, 0))
		last := alice.SendText(room, "last")
		k.waitFor(t, room, counts(2, 0))
		bob.MustDo("POST", receiptPath(room, "m.read", last), map[string]any{}, nil)
		k.waitFor(t, room, counts(0, 0))

		// Alice's counts are her own: nothing bob sent before she read.
		newCounter(alice, "").waitFor(t, room, counts(1, 0))
	})
}

// client-server-api "Threaded read receipts": with unread_thread_notifications
// the main timeline and each thread are counted apart; a threaded receipt
// clears only its thread, an unthreaded one everything before it.
func TestPushCounts_ThreadsCountedApartAndResetByThreadedReceipts(t *testing.T) {
	eachServer(t, func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		root := alice.SendText(room, "root")
		var reply struct {
			EventID string `json:"event_id"`
		}
		for i := range 2 {
			alice.MustDo("PUT", servertest.Room(room)+fmt.Sprintf("/send/m.room.message/thread%d", i), map[string]any{
				"msgtype": "m.text", "body": "in thread",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}, &reply)
		}
		main2 := alice.SendText(room, "main again")

		threaded := newCounter(bob, threadFilter)
		threaded.waitFor(t, room, roomCounts{Room: unreadCounts{2, 0}, Threads: map[string]unreadCounts{root: {2, 0}}})
		whole := newCounter(bob, "")
		whole.waitFor(t, room, counts(4, 0))

		bob.MustDo("POST", receiptPath(room, "m.read", reply.EventID), map[string]any{"thread_id": root}, nil)
		threaded.waitFor(t, room, counts(2, 0))
		whole.waitFor(t, room, counts(2, 0))

		bob.MustDo("POST", receiptPath(room, "m.read", main2), map[string]any{"thread_id": "main"}, nil)
		threaded.waitFor(t, room, counts(0, 0))

		alice.MustDo("PUT", servertest.Room(room)+"/send/m.room.message/thread9", map[string]any{
			"msgtype": "m.text", "body": "late reply",
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}}, nil)
		threaded.waitFor(t, room, roomCounts{Threads: map[string]unreadCounts{root: {1, 0}}})
		// An unthreaded receipt reads every thread up to its event.
		last := alice.SendText(room, "end")
		bob.MustDo("POST", receiptPath(room, "m.read", last), map[string]any{}, nil)
		threaded.waitFor(t, room, counts(0, 0))
	})
}

// Counts are stored, not kept in memory: a restart shows the same counts,
// and events committed while the evaluation had not caught up are
// evaluated at the next start, exactly once.
func TestPushCounts_SurviveRestart(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		s := servertest.StartIn(t, dir, db, servertest.Options{})
		alice, bob := s.Register("alice"), s.Register("bob")
		room := sharedRoom(t, alice, bob)
		alice.SendText(room, "one")
		alice.SendText(room, "two")
		newCounter(bob, "").waitFor(t, room, counts(2, 0))
		alice.SendText(room, "three")
		s.Stop()

		s = servertest.StartIn(t, dir, db, servertest.Options{})
		bob = s.As(bob)
		newCounter(bob, "").waitFor(t, room, counts(3, 0))
		s.As(alice).SendText(room, "four")
		newCounter(bob, "").waitFor(t, room, counts(4, 0))
	})
}
