package users

import (
	"context"
	"errors"
	"net/netip"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Assertion is the user and device an application service names next to
// its as_token (user_id and device_id query parameters).
type Assertion struct {
	UserID, DeviceID string
}

// appserviceSession authenticates an application service's as_token
// (application-service-api.md, "Identity assertion"). The appservice acts
// as its sender unless it names a user with user_id; that user must be in
// its user namespaces and registered, as Synapse requires (403
// M_FORBIDDEN otherwise). A device_id must be one of that user's devices
// (400 M_UNKNOWN_DEVICE, spec v1.17); without it the request has no
// device. Registrations with ip_range_whitelist accept the token only from
// those addresses, as Synapse does (401 M_UNKNOWN_TOKEN otherwise).
func (s *Service) appserviceSession(ctx context.Context, reg *appservice.Registration, ip string, as Assertion) (*Session, error) {
	if len(reg.IPRangeWhitelist) > 0 {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !reg.AllowsClient(addr) {
			return nil, merr.UnknownToken("This application service token is not accepted from this address", false)
		}
	}
	sender := reg.SenderUserID(string(s.opts.ServerName))
	userID := sender
	if as.UserID != "" && as.UserID != sender {
		if !reg.IsInterestedInUser(as.UserID) {
			return nil, merr.Forbidden("Application service cannot masquerade as this user (" + as.UserID + ")")
		}
		userID = as.UserID
	}
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, merr.Forbidden("Application service has not registered this user (" + userID + ")")
	}
	if err != nil {
		return nil, err
	}
	sess := &Session{UserID: userID, IsAdmin: u.IsAdmin, ShadowBanned: u.ShadowBanned, Suspended: u.Suspended, AppserviceID: reg.ID,
		RateLimitExempt: userID == sender || !reg.IsRateLimited()}
	if as.DeviceID != "" {
		if _, err := s.store.GetDevice(ctx, userID, as.DeviceID); errors.Is(err, merr.ErrNotFound) {
			return nil, merr.BadRequest(merr.CodeUnknownDevice, "No device "+as.DeviceID+" for "+userID)
		} else if err != nil {
			return nil, err
		}
		sess.DeviceID = as.DeviceID
	}
	return sess, nil
}

// EnsureAppserviceSenders creates the account of each appservice's sender
// that does not exist yet, so that an appservice can act as its sender
// (join rooms, set a profile) from its first request. Synapse leaves the
// sender without an account row; a row is what every part of Myelin
// checks a user against.
func (s *Service) EnsureAppserviceSenders(ctx context.Context) error {
	for _, reg := range s.opts.Appservices.All() {
		userID := reg.SenderUserID(string(s.opts.ServerName))
		_, err := s.store.GetUser(ctx, userID)
		if err == nil {
			continue
		}
		if !errors.Is(err, merr.ErrNotFound) {
			return err
		}
		if err := s.createAppserviceUser(ctx, reg, userID); err != nil {
			return err
		}
	}
	return nil
}

// checkNamespaces enforces application services' user namespaces on a
// new user ID (application-service-api.md, "Server admin style
// permissions"): an appservice (reg) may only create users in its own
// namespaces, and nobody may create one in another appservice's exclusive
// namespace. Both are 400 M_EXCLUSIVE.
func (s *Service) checkNamespaces(userID string, reg *appservice.Registration) error {
	if reg != nil && !reg.IsInterestedInUser(userID) {
		return merr.Exclusive("Invalid user localpart for this application service")
	}
	if owner := s.opts.Appservices.ExclusiveOwnerOfUser(userID); owner != nil && owner != reg {
		return merr.Exclusive("This user ID is reserved by an application service")
	}
	return nil
}

// createAppserviceUser makes the account of an appservice's sender.
func (s *Service) createAppserviceUser(ctx context.Context, reg *appservice.Registration, userID string) error {
	uid, err := ids.ParseUserID(userID)
	if err != nil {
		return err
	}
	_, err = s.store.CreateUser(ctx, accounts.NewUser{UserID: userID, DisplayName: uid.Localpart, CreatedTS: s.nowMS(), AppserviceID: reg.ID}, nil)
	if errors.Is(err, accounts.ErrUserExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if h := s.getHooks().Register; h != nil {
		if err := h.OnRegister(ctx, userID); err != nil {
			s.log.Error("registration hook failed", "user", userID, "err", err)
		}
	}
	return nil
}

// AppserviceByToken returns the application service whose as_token token
// is, or nil.
func (s *Service) AppserviceByToken(token string) *appservice.Registration {
	return s.opts.Appservices.ByASToken(token)
}

// LoginAppservice logs in as a user of reg's namespaces without a password
// (client-server-api "Appservice Login"): 400 M_EXCLUSIVE for a user
// outside them, 403 M_FORBIDDEN for one not registered (or deactivated).
func (s *Service) LoginAppservice(ctx context.Context, reg *appservice.Registration, req LoginRequest) (*LoginResult, error) {
	if err := checkDeviceID(req.DeviceID); err != nil {
		return nil, err
	}
	userID, err := s.ResolveUser(req.User)
	if err != nil {
		return nil, err
	}
	if !reg.IsInterestedInUser(userID) {
		return nil, merr.Exclusive("This user is outside the application service's namespaces")
	}
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, merr.Forbidden("The application service has not registered this user")
	}
	if err != nil {
		return nil, err
	}
	if u.Deactivated {
		return nil, merr.UserDeactivated("This account has been deactivated")
	}
	return s.login(ctx, userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken, req.IP, req.UserAgent)
}
