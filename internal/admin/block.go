package admin

import (
	"context"
	"strings"

	"github.com/myelin-chat/myelin/internal/merr"
)

// BlockRoom blocks a room (no local user may join or be invited) or
// lifts the block. The room need not be one the server holds, so that a
// room can be blocked before anyone here joins it.
func (s *Service) BlockRoom(ctx context.Context, adminID, roomID string, block bool) error {
	if !strings.HasPrefix(roomID, "!") {
		return merr.InvalidParam(roomID + " is not a legal room ID")
	}
	return s.Rooms.Store().BlockRoom(ctx, roomID, adminID, block)
}

// RoomBlock reports whether a room is blocked and by whom.
func (s *Service) RoomBlock(ctx context.Context, roomID string) (blocked bool, by string, err error) {
	if !strings.HasPrefix(roomID, "!") {
		return false, "", merr.InvalidParam(roomID + " is not a legal room ID")
	}
	by, err = s.Rooms.Store().RoomBlockedBy(ctx, roomID)
	return by != "", by, err
}
