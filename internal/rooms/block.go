package rooms

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
)

// ErrRoomBlocked refuses to let anyone into a room a server admin blocked
// (Synapse's wording).
var ErrRoomBlocked = merr.Forbidden("This room has been blocked on this server")

// CheckNotBlocked returns ErrRoomBlocked for a blocked room.
func (e *Engine) CheckNotBlocked(ctx context.Context, roomID string) error {
	by, err := e.store.RoomBlockedBy(ctx, roomID)
	if err != nil {
		return err
	}
	if by != "" {
		return ErrRoomBlocked
	}
	return nil
}

// checkMembershipBlocked refuses joins, invites and knocks into a blocked
// room. A member already joined may still send a join with a new profile,
// and anyone may leave or be banned.
func (e *Engine) checkMembershipBlocked(ctx context.Context, roomID string, b *event.Builder) error {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(b.Content, &c)
	if c.Membership != event.Join && c.Membership != event.Invite && c.Membership != event.Knock {
		return nil
	}
	if err := e.CheckNotBlocked(ctx, roomID); err == nil || c.Membership != event.Join || b.StateKey == nil {
		return err
	}
	cur, err := e.store.CurrentStateEvent(ctx, roomID, event.TypeMember, *b.StateKey)
	if err != nil {
		return err
	}
	if cur != nil && cur.Membership() == event.Join {
		return nil
	}
	return ErrRoomBlocked
}
