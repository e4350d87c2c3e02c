package users

import (
	"context"
	"errors"
	"strings"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// LoginRequest is an m.login.password login.
type LoginRequest struct {
	// User is the m.id.user identifier: a localpart or a full user ID.
	User                     string
	Password                 string
	DeviceID                 string
	InitialDeviceDisplayName string
	RefreshToken             bool
	IP, UserAgent            string
}

// ResolveUser maps an m.id.user identifier (a localpart or a full user ID
// of this server, client-server-api "Identifier types") to a local user ID.
// Localparts are matched case-insensitively, since new IDs are lower-case.
// A user ID of another server is 403 M_FORBIDDEN.
func (s *Service) ResolveUser(identifier string) (string, error) {
	if strings.HasPrefix(identifier, "@") {
		u, err := ids.ParseUserID(identifier)
		if err != nil {
			return "", merr.InvalidParam("Invalid user ID")
		}
		if u.Server != s.opts.ServerName {
			return "", errBadLogin
		}
		return "@" + asciiLower(u.Localpart) + ":" + string(u.Server), nil
	}
	if identifier == "" {
		return "", merr.MissingParam("Missing user identifier")
	}
	uid := "@" + asciiLower(identifier) + ":" + string(s.opts.ServerName)
	if _, err := ids.ParseUserID(uid); err != nil {
		return "", errBadLogin
	}
	return uid, nil
}

// Login checks a password and creates a device and tokens. A wrong user or
// password is 403 M_FORBIDDEN; a deactivated account 403 M_USER_DEACTIVATED
// (login.yaml). When req.DeviceID names an existing device, its previous
// tokens are revoked.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	if !s.opts.PasswordLogin {
		return nil, merr.BadRequest(merr.CodeUnknown, "Password login is disabled")
	}
	if len(req.Password) > MaxPasswordBytes {
		return nil, errBadLogin
	}
	if err := checkDeviceID(req.DeviceID); err != nil {
		return nil, err
	}
	userID, err := s.ResolveUser(req.User)
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		s.checkHash("", req.Password)
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	if u.Deactivated {
		// As Synapse: the password is gone, so say why login cannot work.
		return nil, merr.UserDeactivated("This account has been deactivated")
	}
	if !s.checkHash(u.PasswordHash, req.Password) {
		return nil, errBadLogin
	}
	if u.Locked {
		// After the password check, as Synapse: the lock is only news to
		// the account's owner.
		return nil, merr.UserLocked("User account has been locked")
	}
	return s.login(ctx, userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken, req.IP, req.UserAgent)
}

func (s *Service) login(ctx context.Context, userID, deviceID, deviceName string, refresh bool, ip, ua string) (*LoginResult, error) {
	if g := s.getHooks().LoginDevice; g != nil && deviceID != "" {
		if err := g.CheckLoginDevice(ctx, userID, deviceID); err != nil {
			return nil, err
		}
	}
	ns, res := s.newSession(userID, deviceID, deviceName, refresh, ip, ua)
	ids, err := s.store.CreateSession(ctx, ns)
	if err != nil {
		return nil, err
	}
	if ids.DeviceCreated {
		s.deviceUpdated(ctx, userID, res.DeviceID)
	}
	return res, nil
}

// Logout deletes the session's device and with it its tokens (logout.yaml:
// "The device associated with the access token is also deleted").
func (s *Service) Logout(ctx context.Context, sess *Session) error {
	if sess.DeviceID == "" {
		// A token without a device (an admin's LoginAs) goes alone.
		return s.store.DeleteAccessToken(ctx, sess.TokenID)
	}
	deleted, err := s.store.DeleteDevices(ctx, sess.UserID, []string{sess.DeviceID})
	if err != nil {
		return err
	}
	s.devicesDeleted(ctx, sess.UserID, deleted)
	return nil
}

// LogoutAll deletes every device and token of the user.
func (s *Service) LogoutAll(ctx context.Context, userID string) error {
	deleted, err := s.store.DeleteOtherDevices(ctx, userID, "")
	if err != nil {
		return err
	}
	s.devicesDeleted(ctx, userID, deleted)
	return nil
}
