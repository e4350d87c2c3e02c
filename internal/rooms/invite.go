package rooms

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// StoreInvite keeps an invite of a local user received from another server
// (PUT /invite): it adds our signature, attaches the stripped room state the
// inviter sent, and records it so the user's /sync shows the invite. In a
// room we are already in, the invite also arrives as a normal PDU, so here it
// is only kept as an outlier.
func (e *Engine) StoreInvite(ctx context.Context, v *roomversion.Version, ev *event.Event, strippedState []json.RawMessage) (*event.Event, error) {
	signed, err := ev.AddSignature(e.serverName, e.key)
	if err != nil {
		return nil, err
	}
	unsigned := map[string]any{"invite_room_state": strippedState}
	if len(strippedState) == 0 {
		unsigned["invite_room_state"] = []any{}
	}
	raw, _ := json.Marshal(unsigned)
	withState := signed.WithUnsigned(raw)

	roomID := ev.RoomID()
	inRoom, err := e.InRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if !inRoom {
		if err := e.ensureRoomRow(ctx, roomID, v, ev.OriginServerTS()); err != nil {
			return nil, err
		}
	}
	if inRoom {
		err = e.store.Write(ctx, func(w *roomstore.Writer) error {
			_, err := w.InsertEvent(roomstore.NewEvent{Event: withState, Outlier: true})
			return err
		})
		return signed, err
	}
	// A room we are not in: the invite is all we hold of it.
	if err := e.RecordOutsiderMembership(ctx, withState); err != nil {
		return nil, err
	}
	return signed, nil
}

// RecordOutsiderMembership records a membership event of a local user in a
// room this server is not in (an invite received, or its rejection): it
// gets a stream position, so /sync sees it, and becomes the user's current
// membership, but takes no place in a DAG of ours.
func (e *Engine) RecordOutsiderMembership(ctx context.Context, ev *event.Event) error {
	pos := e.stream.Reserve()
	defer e.stream.Finish(pos)
	err := e.store.Write(ctx, func(w *roomstore.Writer) error {
		if _, err := w.InsertEvent(roomstore.NewEvent{Event: ev, StreamPos: pos}); err != nil {
			return err
		}
		return w.SetCurrentState(ev, pos)
	})
	if err != nil {
		return err
	}
	e.notifier.Wake(*ev.StateKey())
	return nil
}

// InviteRoomState is the invite_room_state an invite to another server
// carries: whole events in the room version's format, m.room.create among
// them (server-server-api PUT /v2/invite, spec v1.16, MSC4311), so the
// invitee's server may check their signatures and, for room IDs derived
// from the create event, the room; and the inviter's own member event.
func (e *Engine) InviteRoomState(ctx context.Context, roomID, inviter string) []json.RawMessage {
	view, err := e.CurrentView(ctx, roomID)
	if err != nil {
		return nil
	}
	var out []json.RawMessage
	for _, typ := range clientevent.InviteStateTypes {
		if ev := view.Get(typ, ""); ev != nil {
			out = append(out, ev.FederationJSON())
		}
	}
	if ev := view.Get(event.TypeMember, inviter); ev != nil {
		out = append(out, ev.FederationJSON())
	}
	return out
}
