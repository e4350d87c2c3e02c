// Package admin holds the server admin's operations that span domains
// (accounts and rooms), for Synapse's admin API (internal/adminapi) and
// the myelin CLI. Account rules themselves live in internal/users, room
// rules in internal/rooms; this package combines them. Callers have checked
// that the requester is a server admin.
package admin

import (
	"context"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/users"
)

// Service combines the users service and the room engine.
type Service struct {
	Users *users.Service
	Rooms *rooms.Engine
	// Purgers remove the other domains' data of a deleted room.
	Purgers []RoomPurger
	// HistoryPurgers remove the other domains' data of events a history
	// purge removed.
	HistoryPurgers []HistoryPurger
	// Tasks records long operations started in the background; nil means
	// only the synchronous APIs work.
	Tasks TaskStore
	// Federation serves the federation admin API; nil without federation.
	Federation *Federation
	// PusherList lists users' pushers.
	PusherList PusherLister
	// Media sums local users' uploads.
	Media MediaUsageSource
	// Overrides is told when a rate-limit override changes; nil: no cache.
	Overrides OverrideCache
}

// JoinedRooms returns the IDs of the rooms a user is joined to.
func (s *Service) JoinedRooms(ctx context.Context, userID string) ([]string, error) {
	ms, err := s.Rooms.Store().RoomsForUser(ctx, userID, event.Join)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.RoomID
	}
	return out, nil
}
