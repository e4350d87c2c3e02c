package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// StoreKnock records a local user's knock, accepted by a server of a room
// this server is not in, with the stripped state that server answered
// (send_knock's knock_room_state), so that the user's /sync shows the
// knock with it (client-server-api "Knocking on rooms").
func (e *Engine) StoreKnock(ctx context.Context, v *roomversion.Version, ev *event.Event, strippedState []json.RawMessage) error {
	if strippedState == nil {
		strippedState = []json.RawMessage{}
	}
	raw, _ := json.Marshal(map[string]any{"knock_room_state": strippedState})
	if err := e.ensureRoomRow(ctx, ev.RoomID(), v, ev.OriginServerTS()); err != nil {
		return err
	}
	return e.RecordOutsiderMembership(ctx, ev.WithUnsigned(raw))
}

// ensureRoomRow records a room we hold nothing of yet, so that a local
// user's membership in it can be stored.
func (e *Engine) ensureRoomRow(ctx context.Context, roomID string, v *roomversion.Version, ts int64) error {
	if _, err := e.store.Room(ctx, roomID); err == nil {
		return nil
	} else if !errors.Is(err, merr.ErrNotFound) {
		return err
	}
	return e.store.Write(ctx, func(w *roomstore.Writer) error {
		return w.CreateRoom(roomID, string(v.ID), ts)
	})
}

// InRoom reports whether this server has a joined member in the room (so
// it holds the room's current state); false for rooms it does not know.
func (e *Engine) InRoom(ctx context.Context, roomID string) (bool, error) {
	in, err := e.ServerInRoom(ctx, roomID, e.serverName)
	if errors.Is(err, merr.ErrNotFound) {
		return false, nil
	}
	return in, err
}

// IngestOutsider takes the events another server sent us for a room this
// server is not in. Only one kind is kept: the answer to a local user's
// pending knock or invite, a membership event about that user from the
// room's side (a leave or ban rejecting the knock, or a rescinded
// invite), which reaches us because we are the target's server. It is
// recorded as an out-of-band membership, as the invite itself was, since
// without the room's state it cannot be authorised further. Anything else
// is refused: we hold no state to check it against.
func (e *Engine) IngestOutsider(ctx context.Context, roomID string, evs []*event.Event) []IngestResult {
	out := make([]IngestResult, 0, len(evs))
	for _, ev := range evs {
		res := IngestResult{EventID: ev.EventID()}
		res.Err = e.outsiderMembership(ctx, roomID, ev)
		out = append(out, res)
	}
	return out
}

func (e *Engine) outsiderMembership(ctx context.Context, roomID string, ev *event.Event) error {
	sk := ev.StateKey()
	if ev.RoomID() != roomID || ev.Type() != event.TypeMember || sk == nil || domainOf(*sk) != e.serverName {
		return merr.Forbidden("this server is not in the room")
	}
	if m := ev.Membership(); m != event.Leave && m != event.Ban {
		return merr.Forbidden("this server is not in the room")
	}
	cur, err := e.store.CurrentStateEvent(ctx, roomID, event.TypeMember, *sk)
	if err != nil {
		return err
	}
	if cur == nil || (cur.Membership() != event.Knock && cur.Membership() != event.Invite) {
		return merr.Forbidden("no pending knock or invite of that user in this room")
	}
	if cur.EventID() == ev.EventID() {
		return nil
	}
	return e.RecordOutsiderMembership(ctx, ev)
}
