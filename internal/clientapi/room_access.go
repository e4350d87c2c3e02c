package clientapi

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// access describes what a user may read in a room: everything up to
// UpTo (a stream position; the current one for joined members), with
// Joined telling the history-visibility check whether they are a member now.
type access struct {
	Membership string
	UpTo       int64
	Joined     bool
	// WorldReadable rooms can be read by anyone.
	WorldReadable bool
}

// readAccess decides whether userID may read roomID and up to where:
// members read everything; users who left or were banned read up to the
// moment they left (Synapse's behaviour), unless they forgot the room;
// others only world_readable rooms.
func (a *RoomAPI) readAccess(ctx context.Context, roomID, userID string) (*access, error) {
	store := a.Engine.Store()
	if _, err := store.Room(ctx, roomID); err != nil {
		return nil, merr.Forbidden("you are not in this room")
	}
	cur := a.Engine.Stream().Current()
	ms, err := store.MembershipsAt(ctx, userID, cur)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.RoomID != roomID {
			continue
		}
		switch m.Membership {
		case event.Join:
			return &access{Membership: m.Membership, UpTo: cur, Joined: true}, nil
		case event.Leave, event.Ban:
			// A room the user forgot is no longer theirs to read
			// (POST /rooms/{roomId}/forget: "a user will no longer be
			// able to retrieve history for this room"); only a
			// world_readable room stays readable, as to anyone.
			forgot, err := store.Forgotten(ctx, userID, roomID)
			if err != nil {
				return nil, err
			}
			if !forgot {
				return &access{Membership: m.Membership, UpTo: m.StreamPos}, nil
			}
		}
	}
	view, err := a.Engine.CurrentView(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if visibility.HistoryVisibility(view) == visibility.WorldReadable {
		return &access{UpTo: cur, WorldReadable: true}, nil
	}
	return nil, merr.Forbidden("you are not in this room")
}

// stateView returns the state a user may see: current for members and
// world_readable rooms, as of leaving for former members.
func (a *RoomAPI) stateView(ctx context.Context, roomID string, acc *access) (*rooms.StateView, error) {
	if acc.Joined || acc.WorldReadable {
		return a.Engine.CurrentView(ctx, roomID)
	}
	return a.Engine.StateAtPos(ctx, roomID, acc.UpTo)
}

// readableState is the room state the user may read (see stateView), or
// M_FORBIDDEN.
func (a *RoomAPI) readableState(ctx context.Context, roomID, userID string) (*rooms.StateView, error) {
	acc, err := a.readAccess(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	return a.stateView(ctx, roomID, acc)
}
