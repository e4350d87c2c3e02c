package rooms

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// ServerCanSee decides whether another server may be shown an event,
// applying history visibility to servers as Synapse does: world_readable
// events go to anyone; shared events to servers that have (or had at the
// event) a joined or invited member; invited and joined events only to
// servers with a member invited or joined (joined only) at the event.
func (e *Engine) ServerCanSee(ctx context.Context, server string, se *roomstore.StoredEvent) (bool, error) {
	before, err := e.StateBefore(ctx, se)
	if err != nil {
		return false, err
	}
	hv := visibility.HistoryVisibility(before)
	if hv == visibility.WorldReadable {
		return true, nil
	}
	allowed := map[string]bool{event.Join: true}
	if hv == visibility.Invited || hv == visibility.Shared {
		allowed[event.Invite] = true
	}
	if serverHasMember(before, server, allowed) {
		return true, nil
	}
	if hv == visibility.Shared {
		cur, err := e.CurrentView(ctx, se.RoomID())
		if err != nil {
			return false, err
		}
		return serverHasMember(cur, server, allowed), nil
	}
	return false, nil
}

// ServerInRoom reports whether the server has a joined member now.
func (e *Engine) ServerInRoom(ctx context.Context, roomID, server string) (bool, error) {
	cur, err := e.CurrentView(ctx, roomID)
	if err != nil {
		return false, err
	}
	return serverHasMember(cur, server, map[string]bool{event.Join: true}), nil
}

func serverHasMember(v *StateView, server string, memberships map[string]bool) bool {
	for t := range v.IDs {
		if t.Type != event.TypeMember || domainOf(t.StateKey) != server {
			continue
		}
		if ev := v.Get(t.Type, t.StateKey); ev != nil && memberships[ev.Membership()] {
			return true
		}
	}
	return false
}
