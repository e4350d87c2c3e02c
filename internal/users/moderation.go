package users

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Account moderation: suspending and locking local accounts, for Synapse's
// admin API and the client-server admin endpoints (spec v1.18, MSC4323).
// Callers have checked that the requester is a server admin.

// SetSuspended suspends a local account or lifts its suspension
// (client-server-api "Account suspension"); 404 if there is no such
// account. The flag is read with every access token, so it applies to the
// user's next request on every process.
func (s *Service) SetSuspended(ctx context.Context, userID string, suspended bool) error {
	err := s.store.SetSuspended(ctx, userID, suspended)
	if errors.Is(err, merr.ErrNotFound) {
		return ErrUserNotFound
	}
	if err == nil {
		s.log.Info("account suspension changed", "user", userID, "suspended", suspended)
	}
	return err
}

// Moderation is what the client-server admin endpoints act on.
type Moderation int

const (
	// ModerateSuspend is /admin/suspend/{userId}.
	ModerateSuspend Moderation = iota
	// ModerateLock is /admin/lock/{userId}.
	ModerateLock
)

// ModerationTarget checks the target of an admin's GET or PUT (change)
// /_matrix/client/v1/admin/{suspend,lock}/{userId} (admin.yaml) and
// returns the account, in the spec's order of errors: 400 M_INVALID_PARAM
// for a user ID of another server (or none at all), 404 M_NOT_FOUND for an
// unknown or deactivated account, 403 M_FORBIDDEN for another server admin
// or, when changing, for the admin's own account.
func (s *Service) ModerationTarget(ctx context.Context, actor, target string, change bool) (*accounts.User, error) {
	u, err := ids.ParseUserID(target)
	if err != nil {
		return nil, merr.InvalidParam("Invalid user ID")
	}
	if u.Server != s.opts.ServerName {
		return nil, merr.InvalidParam("User does not belong to the local server.")
	}
	acc, err := s.store.GetUser(ctx, target)
	if errors.Is(err, merr.ErrNotFound) || (err == nil && acc.Deactivated) {
		return nil, merr.NotFound("User not found.")
	}
	if err != nil {
		return nil, err
	}
	if acc.IsAdmin && target != actor {
		return nil, merr.Forbidden("The target user is a server administrator.")
	}
	if change && target == actor {
		return nil, merr.Forbidden("You cannot change this on your own account.")
	}
	return acc, nil
}

// Moderate sets the suspension or the lock of a local account checked by
// ModerationTarget.
func (s *Service) Moderate(ctx context.Context, userID string, what Moderation, on bool) error {
	if what == ModerateLock {
		return s.SetLocked(ctx, userID, on)
	}
	return s.SetSuspended(ctx, userID, on)
}
