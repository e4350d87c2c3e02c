package clientapi

import "context"

// NoticeRooms tells whether a room is a user's server notices room
// (internal/servernotices).
type NoticeRooms interface {
	IsNoticeRoom(ctx context.Context, roomID string) (bool, error)
}
