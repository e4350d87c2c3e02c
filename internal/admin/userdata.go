package admin

import (
	"context"
	"encoding/json"
	"math"

	"github.com/myelin-chat/myelin/internal/push"
)

// PusherLister lists a user's pushers (internal/push).
type PusherLister interface {
	List(ctx context.Context, userID string) ([]push.PusherView, error)
}

// UserAccountData is a user's account data: global entries by type, and
// per-room entries by room and type.
type UserAccountData struct {
	Global map[string]json.RawMessage            `json:"global"`
	Rooms  map[string]map[string]json.RawMessage `json:"rooms"`
}

// AccountData returns every account data entry of a local user; 404
// "User not found" if there is no such account.
func (s *Service) AccountData(ctx context.Context, userID string) (*UserAccountData, error) {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return nil, err
	}
	entries, err := s.Users.Store().AccountDataSince(ctx, userID, 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	out := &UserAccountData{Global: map[string]json.RawMessage{}, Rooms: map[string]map[string]json.RawMessage{}}
	for _, e := range entries {
		if e.RoomID == "" {
			out.Global[e.Type] = e.Content
			continue
		}
		if out.Rooms[e.RoomID] == nil {
			out.Rooms[e.RoomID] = map[string]json.RawMessage{}
		}
		out.Rooms[e.RoomID][e.Type] = e.Content
	}
	return out, nil
}

// Pushers returns a local user's pushers; 404 "User not found" if there
// is no such account.
func (s *Service) Pushers(ctx context.Context, userID string) ([]push.PusherView, error) {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return nil, err
	}
	return s.PusherList.List(ctx, userID)
}
