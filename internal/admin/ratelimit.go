package admin

import (
	"context"

	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// OverrideCache is the rate limiter's cache of overrides, told when one
// changes (internal/ratelimit).
type OverrideCache interface {
	InvalidateOverride(userID string)
}

// RatelimitOverride returns a local user's rate-limit override, ok false
// if none; 404 "User not found" for an unknown user.
func (s *Service) RatelimitOverride(ctx context.Context, userID string) (accounts.RatelimitOverride, bool, error) {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return accounts.RatelimitOverride{}, false, err
	}
	return s.Users.Store().RatelimitOverride(ctx, userID)
}

// SetRatelimitOverride sets a local user's override; it applies to the
// user's next request.
func (s *Service) SetRatelimitOverride(ctx context.Context, userID string, o accounts.RatelimitOverride) error {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return err
	}
	if err := s.Users.Store().SetRatelimitOverride(ctx, userID, o); err != nil {
		return err
	}
	s.invalidateOverride(userID)
	return nil
}

// DeleteRatelimitOverride removes a local user's override.
func (s *Service) DeleteRatelimitOverride(ctx context.Context, userID string) error {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return err
	}
	if err := s.Users.Store().DeleteRatelimitOverride(ctx, userID); err != nil {
		return err
	}
	s.invalidateOverride(userID)
	return nil
}

func (s *Service) invalidateOverride(userID string) {
	if s.Overrides != nil {
		s.Overrides.InvalidateOverride(userID)
	}
}
