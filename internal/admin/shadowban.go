package admin

import "context"

// SetShadowBanned shadow-bans a local user or lifts it (Synapse's admin
// API, "Controlling whether a user is shadow-banned"). It applies from the
// user's next request: the flag is read with the access token. Synapse
// answers an unknown user with success; we say 404 "User not found", as
// the other per-user admin endpoints do, so that a typo is noticed.
func (s *Service) SetShadowBanned(ctx context.Context, userID string, banned bool) error {
	if _, err := s.Users.GetUserForAdmin(ctx, userID); err != nil {
		return err
	}
	return s.Users.Store().SetShadowBanned(ctx, userID, banned)
}
