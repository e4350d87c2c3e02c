package users

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// RegisterRequest describes a new account. The caller (an endpoint) has
// already decided that this kind of registration is allowed.
type RegisterRequest struct {
	// Username is the requested localpart; "" lets the server pick one.
	// Ignored for guests.
	Username string
	// Password may be "" for an account that cannot log in with one.
	Password string
	Guest    bool
	Admin    bool
	// UserType is Synapse's user_type ("bot", "support") or "".
	UserType string
	// DisplayName defaults to the localpart for non-guests, as in Synapse.
	DisplayName string
	// SkipPasswordPolicy is for registrations by an administrator.
	SkipPasswordPolicy bool
	// RegistrationToken is the token whose stage the registration passed
	// (""; none); its use is counted with the new account.
	RegistrationToken string
	// Appservice, when set, is the application service registering the
	// user with m.login.application_service: the user must be in its
	// user namespaces.
	Appservice *appservice.Registration

	DeviceID                 string
	InitialDeviceDisplayName string
	InhibitLogin             bool
	RefreshToken             bool
	IP, UserAgent            string
}

// generatedLocalpartDigits sizes server-chosen localparts. Like Synapse's,
// they are numeric, which is why users may not pick numeric names.
const generatedLocalpartDigits = 12

// ValidateUsername maps a requested username onto a local user ID and
// checks that it is allowed and free: 400 M_INVALID_USERNAME or
// M_USER_IN_USE otherwise (registration.yaml; GET /register/available).
func (s *Service) ValidateUsername(ctx context.Context, username string) (string, error) {
	userID, err := s.userIDFor(username)
	if err != nil {
		return "", err
	}
	if err := s.checkNamespaces(userID, nil); err != nil {
		return "", err
	}
	if _, err := s.store.GetUser(ctx, userID); err == nil {
		return "", merr.UserInUse("User ID already taken")
	} else if !errors.Is(err, merr.ErrNotFound) {
		return "", err
	}
	return userID, nil
}

// userIDFor checks a requested username without touching the database.
// Upper-case ASCII is folded (ids.NormalizeUsername); anything else outside
// the localpart grammar is refused rather than escaped.
func (s *Service) userIDFor(username string) (string, error) {
	localpart, err := ids.NormalizeUsername(username)
	if err != nil {
		return "", merr.InvalidUsername("User ID may only contain a-z, 0-9, '.', '_', '=', '-', '/' and '+'")
	}
	if isDigits(localpart) {
		// Synapse reserves numeric localparts for the IDs it generates.
		return "", merr.InvalidUsername("Numeric user IDs are reserved for generated accounts")
	}
	uid, err := ids.NewUserID(localpart, s.opts.ServerName)
	if err != nil {
		return "", merr.InvalidUsername("User ID is too long (at most 255 bytes including the server name)")
	}
	return uid.String(), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Register creates an account and, unless inhibited, logs it in.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*LoginResult, error) {
	generated := req.Guest || req.Username == ""
	var userID string
	if !generated {
		var err error
		if userID, err = s.userIDFor(req.Username); err != nil {
			return nil, err
		}
		if err := s.checkNamespaces(userID, req.Appservice); err != nil {
			return nil, err
		}
	}
	if req.Guest {
		// Spec (registration.yaml): for guests everything but
		// initial_device_display_name is ignored and the server picks the
		// device ID.
		req = RegisterRequest{Guest: true, InitialDeviceDisplayName: req.InitialDeviceDisplayName,
			IP: req.IP, UserAgent: req.UserAgent}
	}
	if err := checkDeviceID(req.DeviceID); err != nil {
		return nil, err
	}
	if req.Password != "" && !req.SkipPasswordPolicy {
		if err := s.CheckPolicy(req.Password); err != nil {
			return nil, err
		}
	}
	var hash string
	if req.Password != "" {
		h, err := s.hashPassword(req.Password)
		if err != nil {
			return nil, err
		}
		hash = string(h)
	}

	for attempt := 0; ; attempt++ {
		if generated {
			uid, err := ids.NewUserID(randomString("0123456789", generatedLocalpartDigits), s.opts.ServerName)
			if err != nil {
				return nil, err
			}
			userID = uid.String()
		}
		displayName := req.DisplayName
		if displayName == "" && !req.Guest {
			u, _ := ids.ParseUserID(userID)
			displayName = u.Localpart
		}
		nu := accounts.NewUser{UserID: userID, PasswordHash: hash, IsAdmin: req.Admin, IsGuest: req.Guest,
			UserType: req.UserType, DisplayName: displayName, CreatedTS: s.nowMS(), RegistrationToken: req.RegistrationToken}
		if req.Appservice != nil && req.Appservice.IsExclusiveUser(userID) {
			nu.AppserviceID = req.Appservice.ID
		}
		var (
			ns  *accounts.NewSession
			res = &LoginResult{UserID: userID}
		)
		if !req.InhibitLogin {
			sess, r := s.newSession(userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken, req.IP, req.UserAgent)
			ns, res = &sess, r
		}
		_, err := s.store.CreateUser(ctx, nu, ns)
		if errors.Is(err, accounts.ErrUserExists) && generated && attempt < 5 {
			continue // a random collision: draw another ID
		}
		if err != nil {
			return nil, err
		}
		if h := s.getHooks().Register; h != nil {
			if err := h.OnRegister(ctx, userID); err != nil {
				s.log.Error("registration hook failed", "user", userID, "err", err)
			}
		}
		if ns != nil {
			s.deviceUpdated(ctx, userID, res.DeviceID)
		}
		return res, nil
	}
}

// UpgradeGuestRequest is a guest's registration of a full account for
// itself (client-server-api "Guest Access": /register with
// guest_access_token).
type UpgradeGuestRequest struct {
	UserID, Password                   string
	DeviceID, InitialDeviceDisplayName string
	InhibitLogin, RefreshToken         bool
	IP, UserAgent                      string
}

// UpgradeGuest turns a guest account into a full account with a password,
// keeping its user ID, and, unless inhibited, logs it in on a new device.
// The guest's tokens stay valid and now belong to a full account.
func (s *Service) UpgradeGuest(ctx context.Context, req UpgradeGuestRequest) (*LoginResult, error) {
	if err := checkDeviceID(req.DeviceID); err != nil {
		return nil, err
	}
	if err := s.CheckPolicy(req.Password); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(req.Password)
	if err != nil {
		return nil, err
	}
	if err := s.store.UpgradeGuest(ctx, req.UserID, string(hash)); err != nil {
		if errors.Is(err, accounts.ErrNotFound) {
			return nil, merr.Forbidden("this account is not a guest account")
		}
		return nil, err
	}
	if req.InhibitLogin {
		return &LoginResult{UserID: req.UserID}, nil
	}
	sess, res := s.newSession(req.UserID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken, req.IP, req.UserAgent)
	if _, err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	return res, nil
}
