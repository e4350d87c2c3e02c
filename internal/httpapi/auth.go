package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/merr"
)

// Session is the authenticated caller of a request.
type Session struct {
	UserID   string
	DeviceID string
	IsGuest  bool
	IsAdmin  bool
	// TokenID identifies the access token used, e.g. so that a password
	// change can keep the current session and log out the others. It is 0
	// for an application service's as_token, which is not a stored token.
	TokenID int64
	// AppserviceID is set when the request carries an application
	// service's as_token: the appservice acts as UserID (its sender, or
	// the user it named with user_id).
	AppserviceID string
	// RateLimitExempt is set for an appservice acting as its sender, or
	// as a user when its registration says rate_limited: false.
	RateLimitExempt bool
	// ShadowBanned is Synapse's shadow-ban: the user's requests succeed
	// but what they send is not seen by others (clientapi/shadowban.go).
	ShadowBanned bool
	// Suspended: the account may read but not act on others
	// (client-server-api "Account suspension"; clientapi/suspension.go).
	// It is read from the database with the token on every request.
	Suspended bool
}

// Suspended is 403 M_USER_SUSPENDED for what, an action a suspended
// account may not take (client-server-api "Account suspension"; which
// actions those are is clientapi/suspension.go's to say).
func Suspended(what string) error {
	return merr.UserSuspended(what + " is not allowed while your account is suspended")
}

// RefuseSuspended refuses what for a suspended session; nil otherwise.
func RefuseSuspended(s *Session, what string) error {
	if s.Suspended {
		return Suspended(what)
	}
	return nil
}

// Assertion is the identity an application service asserts next to its
// as_token (application-service-api.md, "Identity assertion"): the
// user_id and device_id query parameters (device_id also under MSC3202's
// name org.matrix.msc3202.device_id, which bridges still send). They mean
// nothing with an ordinary access token.
type Assertion struct {
	UserID, DeviceID string
}

type assertionKey struct{}

// AssertionFrom returns the identity assertion of the request whose
// context ctx is, as requireAuth and OptionalAuth record it before
// resolving the token.
func AssertionFrom(ctx context.Context) Assertion {
	a, _ := ctx.Value(assertionKey{}).(Assertion)
	return a
}

func assertionOf(r *http.Request) Assertion {
	q := r.URL.Query()
	a := Assertion{UserID: q.Get("user_id"), DeviceID: q.Get("device_id")}
	if a.DeviceID == "" {
		a.DeviceID = q.Get("org.matrix.msc3202.device_id")
	}
	return a
}

// TokenResolver turns an access token into a Session. Errors should be
// merr-coded: an unknown or revoked token is M_UNKNOWN_TOKEN, an expired
// refreshable token M_UNKNOWN_TOKEN with SoftLogout set (client-server-api,
// "Using access tokens" and "Soft logout"); other errors become 500.
type TokenResolver interface {
	Resolve(ctx context.Context, token string) (*Session, error)
}

// AccessToken returns the request's access token: from
// "Authorization: Bearer <token>", or from the access_token query parameter
// that older clients still send (deprecated, and dropped by spec v1.20).
// A request without a token, or with both forms at once, is 401
// M_MISSING_TOKEN; the latter follows Synapse, which refuses to guess which
// one the client meant.
func AccessToken(r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	query, inQuery := r.URL.Query()["access_token"]
	switch {
	case header != "" && inQuery:
		return "", MissingToken("Mixing the Authorization header and the access_token query parameter is not allowed")
	case header != "":
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", MissingToken("The Authorization header must be \"Bearer <access token>\"")
		}
		return strings.TrimSpace(token), nil
	case inQuery && len(query) == 1 && query[0] != "":
		return query[0], nil
	case inQuery:
		return "", MissingToken("Exactly one access_token query parameter is allowed")
	}
	return "", MissingToken("Missing access token")
}

type sessionKey struct{}

// SessionFrom returns the Session that RequireAuth or OptionalAuth put in
// the request context, or nil.
func SessionFrom(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// AuthHandler is a handler that runs with the caller's Session.
type AuthHandler func(w http.ResponseWriter, r *http.Request, s *Session)

// RequireAuth runs h for requests with a valid access token of a full
// (non-guest) account; guests get 403 M_GUEST_ACCESS_FORBIDDEN. Use
// RequireAuthAllowGuests for the endpoints the guest access module opens to
// guests.
func RequireAuth(res TokenResolver, h AuthHandler) http.Handler {
	return requireAuth(res, false, h)
}

// RequireAuthAllowGuests is RequireAuth that also admits guest accounts
// (client-server-api modules/guest_access, "Client behaviour").
func RequireAuthAllowGuests(res TokenResolver, h AuthHandler) http.Handler {
	return requireAuth(res, true, h)
}

func requireAuth(res TokenResolver, allowGuests bool, h AuthHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := AccessToken(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		s, r, err := resolve(res, r, token)
		if err != nil {
			WriteError(w, err)
			return
		}
		if s.IsGuest && !allowGuests {
			WriteError(w, GuestAccessForbidden("Guest access is not allowed for this endpoint"))
			return
		}
		h(w, r, s)
	})
}

// OptionalAuth runs h with the caller's Session when the request carries an
// access token (which must then be valid, as the spec treats a bad token as
// an error wherever one is given), and with a nil Session when it carries
// none. Guests are passed through; h decides what they may see.
func OptionalAuth(res TokenResolver, h AuthHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && !r.URL.Query().Has("access_token") {
			h(w, r, nil)
			return
		}
		token, err := AccessToken(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		s, r, err := resolve(res, r, token)
		if err != nil {
			WriteError(w, err)
			return
		}
		h(w, r, s)
	})
}

func resolve(res TokenResolver, r *http.Request, token string) (*Session, *http.Request, error) {
	r = r.WithContext(context.WithValue(r.Context(), assertionKey{}, assertionOf(r)))
	s, err := res.Resolve(r.Context(), token)
	if err != nil {
		return nil, r, err
	}
	if info := infoFrom(r.Context()); info != nil {
		info.userID = s.UserID
	}
	return s, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), nil
}
