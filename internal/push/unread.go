package push

import (
	"context"
	"math"

	"github.com/myelin-chat/myelin/internal/event"

	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Receipt types that mark events read (client-server-api "Receipts"); the
// fully read marker does not reset counts.
const (
	receiptRead        = "m.read"
	receiptReadPrivate = "m.read.private"
	mainThread         = "main"
)

// Sync adds to an incremental sync the joined rooms in which the user got
// notifications in (From, To], so that their new counts reach the client
// even when the events themselves went out in an earlier response. The
// counts themselves are filled by UnreadCounts for every room sent.
func (n *Notifier) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	if sr.Initial || len(sr.Joined) == 0 {
		return nil
	}
	rooms, err := n.cfg.Store.RoomsNotifiedBetween(ctx, sr.Req.UserID, sr.From, sr.To)
	if err != nil || len(rooms) == 0 {
		return err
	}
	joined := make(map[string]bool, len(sr.Joined))
	for _, r := range sr.Joined {
		joined[r] = true
	}
	for _, r := range rooms {
		if joined[r] {
			sr.JoinedRoom(r)
		}
	}
	return nil
}

// UnreadCounts counts the user's notifications after their latest read
// receipt (m.read or m.read.private, whichever is later) in each room.
// Threaded receipts (client-server-api "Threaded read receipts") end what
// is unread only in their thread ("main" is the timeline outside
// threads), and an unthreaded receipt ends it in every thread: a thread's
// boundary is the later of the two. Without threads the room's count is
// the sum over its threads, as Synapse does.
func (n *Notifier) UnreadCounts(ctx context.Context, userID string, roomIDs []string, threads bool) (map[string]syncapi.RoomUnread, error) {
	// Taken before reading, so what is read is at least this recent.
	tag, cacheable := n.countsTag()
	q := countsQuestion{key: countsKey(roomIDs, threads), tag: tag}
	if cacheable {
		if out, ok := n.counts.Get(userID, q); ok {
			return out, nil
		}
	}
	out, err := n.unreadCounts(ctx, userID, roomIDs, threads)
	if err == nil && cacheable {
		n.counts.Put(userID, q, out)
	}
	return out, err
}

func (n *Notifier) unreadCounts(ctx context.Context, userID string, roomIDs []string, threads bool) (map[string]syncapi.RoomUnread, error) {
	unthreaded, threaded, err := n.readUpTo(ctx, userID, roomIDs)
	if err != nil {
		return nil, err
	}
	ranges := make([]pushstore.Range, len(roomIDs))
	for i, room := range roomIDs {
		ranges[i] = pushstore.Range{RoomID: room, After: unthreaded[room], UpTo: math.MaxInt64}
	}
	counts, err := n.cfg.Store.CountByThread(ctx, userID, ranges)
	if err != nil {
		return nil, err
	}
	// Threads read further than the room: take off what lies between.
	var read []pushstore.Range
	for room, ts := range threaded {
		for thread, pos := range ts {
			if pos > unthreaded[room] && counts[room][thread].Notifications > 0 {
				read = append(read, pushstore.Range{RoomID: room, Thread: thread, After: unthreaded[room], UpTo: pos})
			}
		}
	}
	// One query per range: ranges of one room may not share a query.
	for _, r := range read {
		got, err := n.cfg.Store.CountByThread(ctx, userID, []pushstore.Range{r})
		if err != nil {
			return nil, err
		}
		c, sub := counts[r.RoomID][r.Thread], got[r.RoomID][r.Thread]
		c.Notifications -= sub.Notifications
		c.Highlights -= sub.Highlights
		counts[r.RoomID][r.Thread] = c
	}
	out := make(map[string]syncapi.RoomUnread, len(counts))
	for room, ts := range counts {
		var ru syncapi.RoomUnread
		for thread, c := range ts {
			u := syncapi.UnreadNotifications{NotificationCount: c.Notifications, HighlightCount: c.Highlights}
			switch {
			case !threads:
				ru.Room.NotificationCount += u.NotificationCount
				ru.Room.HighlightCount += u.HighlightCount
			case thread == mainThread:
				ru.Room = u
			case u.NotificationCount > 0:
				if ru.Threads == nil {
					ru.Threads = map[string]syncapi.UnreadNotifications{}
				}
				ru.Threads[thread] = u
			}
		}
		out[room] = ru
	}
	return out, nil
}

// readUpTo returns up to where the user has read each room, as room
// stream positions: unthreaded[room] for unthreaded receipts and their
// join, threaded[room][thread] for threaded receipts (the latest of
// m.read and m.read.private in both).
func (n *Notifier) readUpTo(ctx context.Context, userID string, roomIDs []string) (unthreaded map[string]int64, threaded map[string]map[string]int64, err error) {
	rs, err := n.cfg.Receipts.OfUser(ctx, userID, roomIDs, receiptRead, receiptReadPrivate)
	if err != nil {
		return nil, nil, err
	}
	unthreaded = map[string]int64{}
	threaded = map[string]map[string]int64{}
	// What came before the user joined is not unread (Synapse counts from
	// the join when there is no receipt), nor is the invite that brought
	// them.
	ms, err := n.cfg.Rooms.Store().MembershipsAt(ctx, userID, n.cfg.Rooms.Stream().Current())
	if err != nil {
		return nil, nil, err
	}
	want := make(map[string]bool, len(roomIDs))
	for _, r := range roomIDs {
		want[r] = true
	}
	for _, m := range ms {
		if m.Membership == event.Join && want[m.RoomID] {
			unthreaded[m.RoomID] = m.StreamPos
		}
	}
	for _, r := range rs {
		if r.ThreadID == "" {
			unthreaded[r.RoomID] = max(unthreaded[r.RoomID], r.EventPos)
			continue
		}
		if threaded[r.RoomID] == nil {
			threaded[r.RoomID] = map[string]int64{}
		}
		threaded[r.RoomID][r.ThreadID] = max(threaded[r.RoomID][r.ThreadID], r.EventPos)
	}
	return unthreaded, threaded, nil
}

// UnreadRooms is the badge count pushes carry (push-gateway-api
// "counts.unread"): the number of the user's joined rooms with unread
// notifications, as Synapse counts it by default
// (push.group_unread_count_by_room).
func (n *Notifier) UnreadRooms(ctx context.Context, userID string) (int, error) {
	rooms, err := n.cfg.Rooms.JoinedRooms(ctx, userID)
	if err != nil || len(rooms) == 0 {
		return 0, err
	}
	counts, err := n.UnreadCounts(ctx, userID, rooms, false)
	if err != nil {
		return 0, err
	}
	unread := 0
	for _, c := range counts {
		if c.Room.NotificationCount > 0 {
			unread++
		}
	}
	return unread, nil
}
