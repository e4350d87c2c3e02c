package rooms

import (
	"context"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
)

// IsJoined reports whether userID's current membership of roomID is join,
// from the store's per-user membership cache: what typing, receipts and
// presence check before accepting anything for a room.
func (e *Engine) IsJoined(ctx context.Context, roomID, userID string) (bool, error) {
	ms, err := e.store.MembershipsAt(ctx, userID, e.stream.Current())
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.RoomID == roomID {
			return m.Membership == event.Join, nil
		}
	}
	return false, nil
}

// WakeLocalMembers wakes the long-polling syncs of the room's joined local
// members: for news outside the room's timeline (typing, receipts).
func (e *Engine) WakeLocalMembers(ctx context.Context, roomID string) error {
	members, err := e.store.Members(ctx, roomID, event.Join)
	if err != nil {
		return err
	}
	wake := make([]string, 0, len(members))
	suffix := ":" + e.serverName
	for u := range members {
		if strings.HasSuffix(u, suffix) {
			wake = append(wake, u)
		}
	}
	e.notifier.Wake(wake...)
	return nil
}
