package rooms

import (
	"context"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
)

// IsJoined reports whether userID's current membership of roomID is join:
// what typing, receipts and presence check before accepting anything for
// a room.
func (e *Engine) IsJoined(ctx context.Context, roomID, userID string) (bool, error) {
	rooms, err := e.JoinedRooms(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, r := range rooms {
		if r == roomID {
			return true, nil
		}
	}
	return false, nil
}

// JoinedRooms lists the rooms userID is joined to now. A local user's come
// from the store's per-user membership cache; another server's from the
// current state, since the membership history holds only the memberships
// whose events reached us after we joined (not those in the state a join
// brought).
func (e *Engine) JoinedRooms(ctx context.Context, userID string) ([]string, error) {
	var out []string
	if strings.HasSuffix(userID, ":"+e.serverName) {
		ms, err := e.store.MembershipsAt(ctx, userID, e.stream.Current())
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Membership == event.Join {
				out = append(out, m.RoomID)
			}
		}
		return out, nil
	}
	ms, err := e.store.RoomsForUser(ctx, userID, event.Join)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out = append(out, m.RoomID)
	}
	return out, nil
}

// WakeLocalMembers wakes the long-polling syncs of the room's joined local
// members: for news outside the room's timeline (typing, receipts).
func (e *Engine) WakeLocalMembers(ctx context.Context, roomID string) error {
	wake, err := e.LocalMembers(ctx, roomID)
	if err != nil {
		return err
	}
	e.notifier.Wake(wake...)
	return nil
}

// LocalMembers lists the room's joined members of this server.
func (e *Engine) LocalMembers(ctx context.Context, roomID string) ([]string, error) {
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(members))
	suffix := ":" + e.serverName
	for u := range members {
		if strings.HasSuffix(u, suffix) {
			out = append(out, u)
		}
	}
	return out, nil
}
