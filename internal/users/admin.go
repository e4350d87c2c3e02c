package users

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// The rules of Synapse's user admin API (docs/admin_api/user_admin_api.md
// in Synapse), for the handlers in internal/adminapi and the myelin CLI.
// Callers have checked that the requester is a server admin.

// ErrUserNotFound is the admin API's answer for an unknown local user.
var ErrUserNotFound = merr.NotFound("User not found")

// UserTypes are the user_type values accounts may have besides none, as in
// Synapse.
var UserTypes = []string{"bot", "support"}

// CheckLocalUser parses a user ID from an admin request: 400
// M_INVALID_PARAM if it is not a user ID, 400 with notLocal as message if
// it belongs to another server (Synapse's wording differs per endpoint).
func (s *Service) CheckLocalUser(userID, notLocal string) error {
	u, err := ids.ParseUserID(userID)
	if err != nil {
		return merr.InvalidParam("Invalid user id")
	}
	if u.Server != s.opts.ServerName {
		return merr.BadRequest(merr.CodeUnknown, notLocal)
	}
	return nil
}

// AdminUser is an account as the admin API shows it.
type AdminUser struct {
	accounts.User
	Threepids []accounts.Threepid
}

// GetUserForAdmin returns a local account with its third-party IDs; 404
// "User not found" if there is none.
func (s *Service) GetUserForAdmin(ctx context.Context, userID string) (*AdminUser, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, err
	}
	tp, err := s.store.ListThreepids(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &AdminUser{User: *u, Threepids: tp}, nil
}

// MaxUserPage bounds one page of ListUsers; a client asking for more gets
// this many and a next_token.
const MaxUserPage = 1000

// ListUsers returns one page of accounts and how many match in all.
func (s *Service) ListUsers(ctx context.Context, q accounts.UserQuery) ([]accounts.User, int64, error) {
	if q.OrderBy != "" && !accounts.ValidUserOrder(q.OrderBy) {
		return nil, 0, merr.InvalidParam("Unknown value for order_by: " + string(q.OrderBy))
	}
	q.Limit = min(q.Limit, MaxUserPage)
	return s.store.ListUsers(ctx, q)
}

// UserUpdate is what an admin sets on an account; nil fields are left as
// they are (on creation: the defaults).
type UserUpdate struct {
	Password *string
	// LogoutDevices deletes the user's devices when Password is set.
	LogoutDevices bool
	DisplayName   *string
	AvatarURL     *string
	Admin         *bool
	Deactivated   *bool
	Locked        *bool
	// UserType: nil leaves it, "" clears it.
	UserType  *string
	Threepids *[]accounts.Threepid
}

// validate checks an update's values before anything is changed.
func (s *Service) validateUpdate(u *UserUpdate) error {
	if u.Password != nil && (*u.Password == "" || len(*u.Password) > MaxPasswordBytes) {
		return merr.InvalidParam("Invalid password")
	}
	if u.UserType != nil && *u.UserType != "" && !slices.Contains(UserTypes, *u.UserType) {
		return merr.InvalidParam("Invalid user type")
	}
	if u.DisplayName != nil && len([]rune(*u.DisplayName)) > MaxDisplayNameLength {
		return merr.InvalidParam("Display name is too long (at most 256 characters)")
	}
	if u.AvatarURL != nil && len(*u.AvatarURL) > MaxAvatarURLLength {
		return merr.InvalidParam("Avatar URL is too long")
	}
	if u.Deactivated != nil && *u.Deactivated && u.Password != nil {
		return merr.InvalidParam("Cannot set a password while deactivating a user")
	}
	if u.Threepids != nil {
		if len(*u.Threepids) > 100 {
			return merr.InvalidParam("Too many threepids")
		}
		for i, t := range *u.Threepids {
			if t.Medium != "email" && t.Medium != "msisdn" {
				return merr.InvalidParam("threepids: medium must be email or msisdn")
			}
			if t.Address == "" || len(t.Address) > 320 {
				return merr.InvalidParam("threepids: invalid address")
			}
			if t.Medium == "email" {
				// Synapse stores email addresses in lower case.
				(*u.Threepids)[i].Address = strings.ToLower(t.Address)
			}
		}
	}
	return nil
}

// UpsertUser is PUT /_synapse/admin/v2/users/{userId}: it creates the
// account if it does not exist (reporting created) and otherwise changes
// what u sets. actor is the admin, who may not demote themselves.
func (s *Service) UpsertUser(ctx context.Context, actor, userID string, u UserUpdate) (created bool, err error) {
	if err := s.validateUpdate(&u); err != nil {
		return false, err
	}
	if actor == userID && u.Admin != nil && !*u.Admin {
		return false, merr.BadRequest(merr.CodeUnknown, "You may not demote yourself.")
	}
	existing, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, merr.ErrNotFound):
		return true, s.createByAdmin(ctx, userID, u)
	case err != nil:
		return false, err
	}
	return false, s.modifyByAdmin(ctx, existing, u)
}

// ModifyUser is UpsertUser for an account that must exist (404
// otherwise).
func (s *Service) ModifyUser(ctx context.Context, actor, userID string, u UserUpdate) error {
	if err := s.validateUpdate(&u); err != nil {
		return err
	}
	if actor == userID && u.Admin != nil && !*u.Admin {
		return merr.BadRequest(merr.CodeUnknown, "You may not demote yourself.")
	}
	existing, err := s.GetUserForAdmin(ctx, userID)
	if err != nil {
		return err
	}
	return s.modifyByAdmin(ctx, &existing.User, u)
}

func (s *Service) createByAdmin(ctx context.Context, userID string, u UserUpdate) error {
	local, _ := ids.ParseUserID(userID)
	if want, err := s.userIDFor(local.Localpart); err != nil {
		return err
	} else if want != userID {
		// Synapse refuses upper case in new user IDs rather than folding.
		return merr.InvalidUsername("User ID can only contain characters a-z, 0-9, or '=_-./+'")
	}
	req := RegisterRequest{Username: local.Localpart, SkipPasswordPolicy: true, InhibitLogin: true}
	if u.Password != nil {
		req.Password = *u.Password
	}
	if u.Admin != nil {
		req.Admin = *u.Admin
	}
	if u.UserType != nil {
		req.UserType = *u.UserType
	}
	if u.DisplayName != nil {
		req.DisplayName = *u.DisplayName
	}
	if _, err := s.Register(ctx, req); err != nil {
		return err
	}
	// The rest as on an existing account.
	rest := u
	rest.Password, rest.Admin, rest.UserType, rest.DisplayName = nil, nil, nil, nil
	created, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	return s.modifyByAdmin(ctx, created, rest)
}

func (s *Service) modifyByAdmin(ctx context.Context, cur *accounts.User, u UserUpdate) error {
	userID := cur.UserID
	if u.Deactivated != nil && !*u.Deactivated && cur.Deactivated {
		// Deactivation removed the password; without a new one a
		// reactivated account could not log in (Synapse asks for one too).
		if u.Password == nil && s.opts.PasswordLogin {
			return merr.MissingParam("Must provide a password to re-activate an account.")
		}
		hash := ""
		if u.Password != nil {
			h, err := s.hashPassword(*u.Password)
			if err != nil {
				return err
			}
			hash = string(h)
			u.Password = nil
		}
		if err := s.store.ReactivateUser(ctx, userID, hash); err != nil {
			return err
		}
		s.erased.forget(userID)
	}
	if u.Threepids != nil {
		if err := s.store.ReplaceThreepids(ctx, userID, *u.Threepids); err != nil {
			return err
		}
	}
	if u.DisplayName != nil && *u.DisplayName != cur.DisplayName {
		if err := s.SetDisplayName(ctx, userID, *u.DisplayName); err != nil {
			return err
		}
	}
	if u.AvatarURL != nil && *u.AvatarURL != cur.AvatarURL {
		if err := s.SetAvatarURL(ctx, userID, *u.AvatarURL); err != nil {
			return err
		}
	}
	if u.Admin != nil && *u.Admin != cur.IsAdmin {
		if err := s.store.SetAdmin(ctx, userID, *u.Admin); err != nil {
			return err
		}
	}
	if u.UserType != nil && *u.UserType != cur.UserType {
		if err := s.store.SetUserType(ctx, userID, *u.UserType); err != nil {
			return err
		}
	}
	if u.Locked != nil && *u.Locked != cur.Locked {
		if err := s.store.SetLocked(ctx, userID, *u.Locked); err != nil {
			return err
		}
	}
	if u.Password != nil {
		if err := s.setPassword(ctx, userID, *u.Password, u.LogoutDevices, ""); err != nil {
			return err
		}
	}
	if u.Deactivated != nil && *u.Deactivated && !cur.Deactivated {
		return s.Deactivate(ctx, userID, false)
	}
	return nil
}

// ResetPassword is an admin's password reset: no policy check (as in
// Synapse), and with logoutDevices every device of the user is deleted.
func (s *Service) ResetPassword(ctx context.Context, userID, password string, logoutDevices bool) error {
	if password == "" || len(password) > MaxPasswordBytes {
		return merr.InvalidParam("Invalid password")
	}
	if _, err := s.GetUserForAdmin(ctx, userID); err != nil {
		return err
	}
	return s.setPassword(ctx, userID, password, logoutDevices, "")
}

// DeactivateByAdmin deactivates a local account (404 if there is none).
func (s *Service) DeactivateByAdmin(ctx context.Context, userID string, erase bool) error {
	if _, err := s.GetUserForAdmin(ctx, userID); err != nil {
		return err
	}
	return s.Deactivate(ctx, userID, erase)
}

// SetLocked locks or unlocks an account.
func (s *Service) SetLocked(ctx context.Context, userID string, locked bool) error {
	return s.store.SetLocked(ctx, userID, locked)
}

// LoginAs issues an access token for userID to the admin actor: a token
// without a device, which logging out revokes alone (Synapse's "Login as
// a user"). validUntilMS is when it expires (0: never).
func (s *Service) LoginAs(ctx context.Context, actor, userID string, validUntilMS int64) (string, error) {
	if actor == userID {
		return "", merr.BadRequest(merr.CodeUnknown, "Cannot use admin API to login as self")
	}
	if validUntilMS != 0 && validUntilMS <= s.nowMS() {
		return "", merr.BadRequest(merr.CodeUnknown, "'valid_until_ms' is in the past")
	}
	u, err := s.GetUserForAdmin(ctx, userID)
	if err != nil {
		return "", err
	}
	if u.Deactivated {
		return "", merr.UserDeactivated("This account has been deactivated")
	}
	token, hash := newToken(accessTokenPrefix)
	if _, err := s.store.CreatePuppetToken(ctx, userID, hash, s.nowMS(), validUntilMS); err != nil {
		return "", err
	}
	return token, nil
}
