package clientapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/threepid"
	"github.com/myelin-chat/myelin/internal/users"
)

// AccountOptions configure an AccountAPI. AccountOptionsFromConfig fills
// them from homeserver.yaml.
type AccountOptions struct {
	// PublicBaseURL is the client API's URL (public_baseurl), for
	// /.well-known/matrix/client and the well_known of /login.
	PublicBaseURL string
	// ServeServerWellKnown serves /.well-known/matrix/server.
	ServeServerWellKnown bool
	// AdminContact is admin_contact, for /.well-known/matrix/support.
	AdminContact string

	// EnableRegistration opens POST /register to everyone;
	// RegistrationWithoutVerification allows it with only m.login.dummy
	// (Myelin has no captcha stage; email is RegistrationRequiresEmail).
	EnableRegistration              bool
	RegistrationWithoutVerification bool
	// RegistrationRequiresToken puts the m.login.registration_token stage
	// in front of every registration flow (registration_requires_token).
	RegistrationRequiresToken bool
	// AllowGuestAccess allows kind=guest registration.
	AllowGuestAccess bool
	// RequireAuthForProfileRequests makes profile lookups need a token.
	RequireAuthForProfileRequests bool

	// Threepids validates email addresses; nil when the email block is
	// not configured (the email endpoints then refuse, as Synapse does).
	Threepids *threepid.Service
	// Enable3PIDChanges lets users add and delete addresses
	// (enable_3pid_changes).
	Enable3PIDChanges bool
	// RegistrationRequiresEmail puts m.login.email.identity in every
	// registration flow (registrations_require_3pid: [email]).
	RegistrationRequiresEmail bool
	// InhibitThreepidErrors hides whether an address is bound
	// (request_token_inhibit_3pid_errors).
	InhibitThreepidErrors bool

	// DefaultRoomVersion is advertised in /capabilities.
	DefaultRoomVersion string
	// ForgetRoomsOnLeave (forget_rooms_on_leave) is advertised as the
	// m.forget_forced_upon_leave capability; the room store does the
	// forgetting.
	ForgetRoomsOnLeave bool
	// Dehydration adds org.matrix.msc3814 (dehydrated devices) to the
	// unstable_features of /versions.
	Dehydration bool

	// Limits applies rc_registration, rc_login.* and rc_message (profile
	// changes); the server shares it with the RoomAPI so that both draw on
	// the same buckets. nil: no rate limits.
	Limits *ratelimit.Limiter

	// Now is the clock for rate limits and UIA sessions; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// AccountOptionsFromConfig maps the configuration onto AccountOptions.
func AccountOptionsFromConfig(cfg *config.Config) AccountOptions {
	return AccountOptions{
		PublicBaseURL:                   cfg.PublicBaseURL,
		ServeServerWellKnown:            cfg.ServeServerWellKnown,
		AdminContact:                    cfg.AdminContact,
		EnableRegistration:              cfg.EnableRegistration,
		RegistrationWithoutVerification: cfg.EnableRegistrationWithoutVerification,
		RegistrationRequiresToken:       cfg.RegistrationRequiresToken,
		AllowGuestAccess:                cfg.AllowGuestAccess,
		RequireAuthForProfileRequests:   cfg.RequireAuthForProfileRequests,
		DefaultRoomVersion:              cfg.DefaultRoomVersion,
		ForgetRoomsOnLeave:              cfg.ForgetRoomsOnLeave,
		Enable3PIDChanges:               cfg.Enable3PIDChanges,
		RegistrationRequiresEmail:       slices.Contains(cfg.RegistrationsRequire3PID, "email"),
		InhibitThreepidErrors:           cfg.RequestTokenInhibit3PIDErrors,
		Dehydration:                     cfg.Experimental.MSC3814Enabled,
	}
}

// AccountAPI serves the account, authentication and server-information
// endpoints of the client-server API, and the Synapse admin API's
// shared-secret registration. Handlers parse requests, call the users
// service and map its errors; the rules live in the service.
//
// AccountAPI is also the server's httpapi.TokenResolver.
type AccountAPI struct {
	svc  *users.Service
	opts AccountOptions
	now  func() time.Time
	log  *slog.Logger

	limits *ratelimit.Limiter

	// remote asks other servers for their users' profiles; nil until
	// SetRemoteProfiles (then only local profiles are found).
	remote RemoteProfiles
}

// RemoteProfiles asks other servers for their users' profiles
// (server-server-api GET /query/profile); field "" asks for all of it.
type RemoteProfiles interface {
	QueryProfile(ctx context.Context, userID, field string) (map[string]json.RawMessage, error)
}

// SetRemoteProfiles lets profile lookups of other servers' users go to
// those servers. Call it while the server is wired.
func (a *AccountAPI) SetRemoteProfiles(r RemoteProfiles) { a.remote = r }

// NewAccountAPI returns the API over svc.
func NewAccountAPI(svc *users.Service, opts AccountOptions) *AccountAPI {
	a := &AccountAPI{svc: svc, opts: opts, now: opts.Now, log: opts.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.opts.DefaultRoomVersion == "" {
		a.opts.DefaultRoomVersion = string(roomversion.Default)
	}
	a.limits = opts.Limits
	return a
}

// Service returns the users service behind the API.
func (a *AccountAPI) Service() *users.Service { return a.svc }

// Resolve implements httpapi.TokenResolver: it authenticates an access
// token and records the client's address and user agent for the device
// list (taken from the context of a request served by an httpapi.Router).
func (a *AccountAPI) Resolve(ctx context.Context, token string) (*httpapi.Session, error) {
	as := httpapi.AssertionFrom(ctx)
	s, err := a.svc.Authenticate(ctx, token, httpapi.ClientIPFromContext(ctx), httpapi.UserAgentFromContext(ctx),
		users.Assertion{UserID: as.UserID, DeviceID: as.DeviceID})
	if err != nil {
		return nil, err
	}
	return &httpapi.Session{UserID: s.UserID, DeviceID: s.DeviceID, IsGuest: s.IsGuest, IsAdmin: s.IsAdmin, TokenID: s.TokenID,
		AppserviceID: s.AppserviceID, RateLimitExempt: s.RateLimitExempt, ShadowBanned: s.ShadowBanned,
		Suspended: s.Suspended}, nil
}

// clientPrefixes are the client API path prefixes served. Clients still
// probe r0 for the endpoints that existed then.
var clientPrefixes = []string{"/_matrix/client/v3", "/_matrix/client/r0"}

// Register adds every endpoint of the AccountAPI to rt.
func (a *AccountAPI) Register(rt *httpapi.Router) {
	plain := func(method, path string, h http.HandlerFunc) {
		for _, p := range clientPrefixes {
			rt.Handle(method+" "+p+path, h)
		}
	}
	user := func(method, path string, h httpapi.AuthHandler) {
		for _, p := range clientPrefixes {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a, h))
		}
	}
	// Guests may use these (client-server-api modules/guest_access).
	guest := func(method, path string, h httpapi.AuthHandler) {
		for _, p := range clientPrefixes {
			rt.Handle(method+" "+p+path, httpapi.RequireAuthAllowGuests(a, h))
		}
	}

	rt.HandleFunc("GET /_matrix/client/versions", a.versions)
	rt.HandleFunc("GET /.well-known/matrix/client", a.wellKnownClient)
	rt.HandleFunc("GET /.well-known/matrix/support", a.wellKnownSupport)
	if a.opts.ServeServerWellKnown {
		rt.HandleFunc("GET /.well-known/matrix/server", a.wellKnownServer)
	}
	user("GET", "/capabilities", a.capabilities)
	a.registerModeration(rt)

	plain("POST", "/register", a.register)
	plain("GET", "/register/available", a.registerAvailable)
	rt.HandleFunc("GET /_matrix/client/v1/register/m.login.registration_token/validity", a.registrationTokenValidity)

	plain("GET", "/login", a.loginFlows)
	plain("POST", "/login", a.login)
	plain("POST", "/refresh", a.refresh)
	// Logging out is never harmful, so guests may do it too.
	guest("POST", "/logout", a.logout)
	guest("POST", "/logout/all", a.logoutAll)

	guest("GET", "/account/whoami", a.whoami)
	// Without an access token this is a password reset by email.
	plain("POST", "/account/password", httpapi.OptionalAuth(a, a.changePassword).ServeHTTP)
	user("POST", "/account/deactivate", a.deactivate)
	user("GET", "/account/3pid", a.threepids)
	a.registerThreepid(rt, plain, user)
	user("GET", "/admin/whois/{userId}", a.whois)
	// Synapse's admin API serves the same answer (admin/whois in Synapse).
	rt.Handle("GET /_synapse/admin/v1/whois/{userId}", httpapi.RequireAuth(a, a.whois))

	guest("GET", "/devices", a.listDevices)
	guest("GET", "/devices/{deviceId}", a.getDevice)
	guest("PUT", "/devices/{deviceId}", a.putDevice)
	user("DELETE", "/devices/{deviceId}", a.deleteDevice)
	user("POST", "/delete_devices", a.deleteDevices)

	for _, p := range clientPrefixes {
		if a.opts.RequireAuthForProfileRequests {
			rt.Handle("GET "+p+"/profile/{userId}", httpapi.RequireAuthAllowGuests(a, a.getProfile))
			rt.Handle("GET "+p+"/profile/{userId}/{keyName}", httpapi.RequireAuthAllowGuests(a, a.getProfileField))
		} else {
			rt.Handle("GET "+p+"/profile/{userId}", httpapi.OptionalAuth(a, a.getProfile))
			rt.Handle("GET "+p+"/profile/{userId}/{keyName}", httpapi.OptionalAuth(a, a.getProfileField))
		}
	}
	guest("PUT", "/profile/{userId}/{keyName}", a.putProfileField)
	guest("DELETE", "/profile/{userId}/{keyName}", a.deleteProfileField)

	rt.HandleFunc("GET /_synapse/admin/v1/register", a.sharedSecretNonce)
	rt.HandleFunc("POST /_synapse/admin/v1/register", a.sharedSecretRegister)
}

// Body limits for this API's requests: all are small JSON objects. The
// profile bound is the spec's (profile.yaml: "the total profile MUST be
// under 64 KiB").
const (
	accountMaxBody = 64 << 10
	profileMaxBody = 64 << 10
)

// writeAccountJSON writes a 200 response.
func writeAccountJSON(w http.ResponseWriter, v any) { httpapi.WriteJSON(w, http.StatusOK, v) }
