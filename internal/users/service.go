// Package users holds the rules for local accounts: registration, password
// hashing and policy, logging in and out, access and refresh tokens,
// devices, profiles, deactivation and Synapse-compatible shared-secret
// registration. It sits between the HTTP handlers (internal/clientapi),
// which parse requests and map errors, and the accounts storage.
//
// Errors carry their Matrix meaning through internal/merr.
package users

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Options configure a Service. OptionsFromConfig fills them from
// homeserver.yaml.
type Options struct {
	ServerName ids.ServerName

	// BcryptCost is the cost of new password hashes (bcrypt_rounds).
	BcryptCost int
	// Pepper is appended to passwords before hashing (password_config.pepper).
	Pepper string
	// PasswordLogin allows m.login.password on /login.
	PasswordLogin bool
	// PasswordReauth allows m.login.password in user-interactive auth
	// (true also when password_config.enabled is "only_for_reauth").
	PasswordReauth bool
	// Policy applies to passwords users choose (password_config.policy).
	Policy config.PasswordPolicy

	// RefreshableAccessTokenLifetime is how long access tokens issued with a
	// refresh token live; 0 disables refresh tokens.
	RefreshableAccessTokenLifetime time.Duration
	// RefreshTokenLifetime is how long a refresh token lives; 0: until used.
	RefreshTokenLifetime time.Duration
	// NonrefreshableAccessTokenLifetime is how long other access tokens
	// live; 0: forever.
	NonrefreshableAccessTokenLifetime time.Duration
	// SessionLifetime bounds every token of a login, refreshed or not;
	// 0: no bound.
	SessionLifetime time.Duration

	// SharedSecret enables shared-secret registration when not empty.
	SharedSecret string

	// Appservices are the registered application services: their
	// as_tokens authenticate, and their exclusive namespaces are theirs.
	// Nil means none.
	Appservices *appservice.Set
	// AppserviceQueries asks appservices about unknown users of their
	// namespaces (profile lookups); nil asks nobody.
	AppserviceQueries *appservice.Queries

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives hook failures and similar; nil discards.
	Logger *slog.Logger
}

// OptionsFromConfig maps the configuration onto Options.
func OptionsFromConfig(cfg *config.Config) (Options, error) {
	secret, err := cfg.SharedSecret()
	if err != nil {
		return Options{}, err
	}
	pc := cfg.PasswordConfig
	return Options{
		ServerName:                        ids.ServerName(cfg.ServerName),
		BcryptCost:                        cfg.BcryptRounds,
		Pepper:                            pc.Pepper,
		PasswordLogin:                     pc.Enabled && pc.LocalDBEnabled && !pc.OnlyForReauth,
		PasswordReauth:                    (pc.Enabled || pc.OnlyForReauth) && pc.LocalDBEnabled,
		Policy:                            pc.Policy,
		RefreshableAccessTokenLifetime:    cfg.RefreshableAccessTokenLifetime,
		RefreshTokenLifetime:              cfg.RefreshTokenLifetime,
		NonrefreshableAccessTokenLifetime: cfg.NonrefreshableAccessTokenLifetime,
		SessionLifetime:                   cfg.SessionLifetime,
		SharedSecret:                      secret,
	}, nil
}

// Hooks let other parts of the server react to account changes. Each
// may be nil. Hooks run synchronously in the request, after the change is
// stored; a failure is logged and does not undo the change. A hook that
// works in the background must not keep the request's context.
type Hooks struct {
	Deactivate DeactivateHook
	Profile    ProfileHook
	Devices    DeviceHook
	Register   RegisterHook
	// LoginDevice, unlike the others, runs before a login that names its
	// device ID, and its error refuses the login.
	LoginDevice DeviceGuard
}

// DeviceGuard decides whether a login may take the device ID it names
// (the e2ee service refuses the user's dehydrated device).
type DeviceGuard interface {
	CheckLoginDevice(ctx context.Context, userID, deviceID string) error
}

// RegisterHook runs after a user is created, e.g. to store their
// server-default push rules so that their first /sync carries them.
type RegisterHook interface {
	OnRegister(ctx context.Context, userID string) error
}

// DeactivateHook runs after a user is deactivated, e.g. to make them leave
// their rooms.
type DeactivateHook interface {
	OnDeactivate(ctx context.Context, userID string) error
}

// ProfileHook runs after a user's display name or avatar changed, e.g. to
// update their membership events.
type ProfileHook interface {
	OnProfileChange(ctx context.Context, userID string) error
}

// DeviceHook runs after devices were deleted (their end-to-end keys go
// too) or created or renamed (device list updates).
type DeviceHook interface {
	OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error
	OnDeviceUpdated(ctx context.Context, userID, deviceID string) error
}

// Session is an authenticated access token.
type Session struct {
	UserID   string
	DeviceID string
	IsGuest  bool
	IsAdmin  bool
	TokenID  int64
	// AppserviceID is set for an application service's as_token.
	AppserviceID string
	// RateLimitExempt: an appservice's sender, or a user of an appservice
	// with rate_limited: false.
	RateLimitExempt bool
	// ShadowBanned: the user's requests succeed but others see nothing of
	// them (Synapse's shadow-ban).
	ShadowBanned bool
	// Suspended: the account may read but not act on others
	// (client-server-api "Account suspension").
	Suspended bool
}

// Service implements the account rules over an accounts.Store.
type Service struct {
	store accounts.Store
	opts  Options
	now   func() time.Time
	log   *slog.Logger

	hooksMu sync.RWMutex
	hooks   Hooks

	nonces *nonceStore
	// erased caches which users were erased (erasure.go).
	erased erasureCache
	// dummyHash is compared against when a user does not exist, so a
	// failed login takes as long whether or not the user exists.
	dummyHash []byte
}

// New returns a Service.
func New(store accounts.Store, opts Options) (*Service, error) {
	if !opts.ServerName.Valid() {
		return nil, fmt.Errorf("users: invalid server name %q", opts.ServerName)
	}
	s := &Service{store: store, opts: opts, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.nonces = newNonceStore(s.now)
	var err error
	if s.dummyHash, err = s.hashPassword("not a real password"); err != nil {
		return nil, err
	}
	return s, nil
}

// SetHooks installs hooks. Call it while wiring the server, before serving.
func (s *Service) SetHooks(h Hooks) {
	s.hooksMu.Lock()
	s.hooks = h
	s.hooksMu.Unlock()
}

func (s *Service) getHooks() Hooks {
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	return s.hooks
}

// Store returns the underlying store, for the parts of the server (sync,
// account data) that read it directly.
func (s *Service) Store() accounts.Store { return s.store }

// ServerName is the server's name, the domain of local user IDs.
func (s *Service) ServerName() ids.ServerName { return s.opts.ServerName }

// Options returns the options the service was built with.
func (s *Service) Options() Options { return s.opts }

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

func (s *Service) devicesDeleted(ctx context.Context, userID string, deviceIDs []string) {
	if h := s.getHooks().Devices; h != nil && len(deviceIDs) > 0 {
		if err := h.OnDevicesDeleted(ctx, userID, deviceIDs); err != nil {
			s.log.Error("device deletion hook failed", "user", userID, "err", err)
		}
	}
}

func (s *Service) deviceUpdated(ctx context.Context, userID, deviceID string) {
	if h := s.getHooks().Devices; h != nil {
		if err := h.OnDeviceUpdated(ctx, userID, deviceID); err != nil {
			s.log.Error("device update hook failed", "user", userID, "device", deviceID, "err", err)
		}
	}
}
