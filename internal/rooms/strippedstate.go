package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/roomversion"
)

// CheckRoomStatePDUs checks the room state another server sent with an
// invite or a knock (invite_room_state of PUT /invite, knock_room_state of
// send_knock's answer; spec v1.16, MSC4311): every entry must be a whole
// event in the room version's format, with the content its hash covers,
// correctly signed (verify checks the signatures, fetching keys as
// needed), of roomID (for versions whose room
// ID is the create event's hash, the m.room.create entry's computed ID
// must be it), and the room's m.room.create event must be among them.
//
// It returns the entries that pass, in order, and an M_INVALID_PARAM error
// naming the first problem (nil when there is none). What to do with a
// problem is the caller's: the spec has an invite refused for room
// versions after 11 and only warned about before, and a knock's bad
// entries removed before the client sees them.
func CheckRoomStatePDUs(ctx context.Context, v *roomversion.Version, roomID string, raws []json.RawMessage,
	verify func(context.Context, *event.Event) (*event.Event, error)) ([]json.RawMessage, error) {
	var (
		kept       []json.RawMessage
		problem    error
		haveCreate bool
	)
	fail := func(err error) {
		if problem == nil {
			problem = err
		}
	}
	for i, raw := range raws {
		ev, err := event.Parse(raw, v)
		if err == nil && !ev.CheckContentHash() {
			// Signed, perhaps, but not what was signed: the content shown
			// to the user would be another server's word.
			err = errors.New("its content does not match its hash")
		}
		if err == nil {
			ev, err = verify(ctx, ev)
		}
		if err != nil {
			fail(merr.InvalidParam(fmt.Sprintf("entry %d is not a correctly signed event of room version %s: %v", i, v.ID, errorText(err))))
			continue
		}
		if ev.RoomID() != roomID {
			fail(merr.InvalidParam(fmt.Sprintf("entry %d belongs to another room", i)))
			continue
		}
		if ev.Type() == event.TypeCreate && ev.StateKeyEquals("") {
			haveCreate = true
		}
		kept = append(kept, raw)
	}
	if !haveCreate {
		fail(merr.InvalidParam("the room's m.room.create event is missing"))
	}
	return kept, problem
}

// errorText is an error's message without merr's wrapping.
func errorText(err error) string {
	if me, ok := merr.As(err); ok {
		return me.Message
	}
	return err.Error()
}
