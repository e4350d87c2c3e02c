package syncapi

import "context"

// UnreadCounter counts a user's unread notifications per room
// (client-server-api "Receiving notifications").
type UnreadCounter interface {
	// UnreadCounts returns the counts of the given rooms: per thread when
	// threads is set (the filter's unread_thread_notifications), the whole
	// room otherwise. Rooms without notifications may be left out.
	UnreadCounts(ctx context.Context, userID string, roomIDs []string, threads bool) (map[string]RoomUnread, error)
	// CatchUp waits briefly until the counts cover every room event up
	// to pos, so that one response carries an event and its counts.
	CatchUp(ctx context.Context, pos int64)
}

// RoomUnread is one room's unread counts.
type RoomUnread struct {
	// Room counts the whole room, or only its main timeline when counted
	// per thread.
	Room UnreadNotifications
	// Threads counts each thread with unread notifications, by root.
	Threads map[string]UnreadNotifications
}

// SetUnreadCounter sets where unread_notifications come from.
func (s *Syncer) SetUnreadCounter(c UnreadCounter) { s.unread = c }

// addUnreadCounts fills the counts of every joined room in the response.
func (s *Syncer) addUnreadCounts(ctx context.Context, req Request, f *Filter, resp *Response) error {
	if s.unread == nil || len(resp.Rooms.Join) == 0 {
		return nil
	}
	ids := make([]string, 0, len(resp.Rooms.Join))
	for id := range resp.Rooms.Join {
		ids = append(ids, id)
	}
	threads := f.Room.Timeline.UnreadThreadNotifications
	counts, err := s.unread.UnreadCounts(ctx, req.UserID, ids, threads)
	if err != nil {
		return err
	}
	for id, jr := range resp.Rooms.Join {
		c := counts[id]
		jr.UnreadNotifications = c.Room
		if threads && len(c.Threads) > 0 {
			jr.UnreadThreadNotifications = c.Threads
		}
	}
	return nil
}
