package spaces

import (
	"context"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// RoomSummary is GET /room_summary's answer: the summary and the user's
// membership (absent for an unauthenticated request).
type RoomSummary struct {
	Summary
	Membership string `json:"membership,omitempty"`
}

// RoomSummary summarises a room for user ("" when unauthenticated;
// client-server-api GET /room_summary, v1.15). A room this server is in is
// read from its current state; another is asked of the via servers (and
// the room ID's own server, for room IDs that name one) through the
// federation /hierarchy, as the spec suggests. The room must be one the
// user could see in a hierarchy (public, knockable, world_readable,
// restricted with the conditions met, or one they are in or invited to);
// an unauthenticated request sees only the first three kinds, as the spec
// allows. Otherwise, or if no server answers: 404 M_NOT_FOUND.
func (s *Service) RoomSummary(ctx context.Context, user, roomID string, via []string) (*RoomSummary, error) {
	who := viewer{user: user}
	notFound := merr.NotFound("room not found, or not visible to you")
	l, err := s.localRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if l != nil {
		ok, membership, err := s.accessible(ctx, l, who)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound
		}
		h, err := s.summarize(ctx, l, false, false)
		if err != nil {
			return nil, err
		}
		return &RoomSummary{Summary: h.Summary, Membership: membership}, nil
	}
	fh, _ := s.fetchRemote(ctx, roomID, withRoomServer(roomID, via), false)
	if fh == nil {
		return nil, notFound
	}
	ok, membership, err := s.remoteAccessible(ctx, &fh.Room.Summary, who)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound
	}
	return &RoomSummary{Summary: fh.Room.Summary, Membership: membership}, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// RemoteGuestAccess asks the via servers (and the room ID's own server,
// for room IDs that name one) for the summary of a room this server is
// not in, to tell whether its guest access is can_join before a guest
// joins it. answered is false when no server described the room (it may
// be one they show no other server, like an invite-only room): the
// joining server then judges by the state send_join returns.
func (s *Service) RemoteGuestAccess(ctx context.Context, roomID string, via []string) (answered, canJoin bool) {
	if s.remote == nil {
		return false, false
	}
	// Asked afresh, not from the cache: a room may have just been opened
	// to guests.
	fh := s.askRemote(ctx, roomID, withRoomServer(roomID, via), false)
	if fh == nil {
		return false, false
	}
	return true, fh.Room.GuestCanJoin
}

// withRoomServer is via with the room ID's own server added, for room IDs
// that name one.
func withRoomServer(roomID string, via []string) []string {
	servers := append([]string(nil), via...)
	if srv, ok := ids.RoomIDServer(roomID); ok && !containsString(servers, string(srv)) {
		servers = append(servers, string(srv))
	}
	return servers
}
