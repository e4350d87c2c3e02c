package clientapi

import (
	"context"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/threepid"
	"github.com/myelin-chat/myelin/internal/users"
)

// loginBody is the body of POST /login (login.yaml).
type loginBody struct {
	Type       string          `json:"type"`
	Identifier *userIdentifier `json:"identifier"`
	// User, Medium and Address are the deprecated forms of identifier.
	User                     string `json:"user"`
	Medium                   string `json:"medium"`
	Address                  string `json:"address"`
	Password                 string `json:"password"`
	Token                    string `json:"token"`
	DeviceID                 string `json:"device_id"`
	InitialDeviceDisplayName string `json:"initial_device_display_name"`
	RefreshToken             bool   `json:"refresh_token"`
}

// loginFlows is GET /login.
func (a *AccountAPI) loginFlows(w http.ResponseWriter, r *http.Request) {
	flows := []map[string]string{}
	if a.svc.Options().PasswordLogin {
		flows = append(flows, map[string]string{"type": authPassword})
	}
	// Offered when there is an appservice to use it, as Synapse offers it.
	if a.svc.Options().Appservices.Len() > 0 {
		flows = append(flows, map[string]string{"type": authAppservice})
	}
	writeAccountJSON(w, map[string]any{"flows": flows})
}

// login is POST /login with m.login.password. Rate limits follow Synapse's
// rc_login: per client address for every attempt, per account for every
// attempt on it, and per account for failed attempts.
func (a *AccountAPI) login(w http.ResponseWriter, r *http.Request) {
	var body loginBody
	if err := httpapi.ReadJSON(r, accountMaxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ip := httpapi.ClientIP(r)
	if body.Type == authAppservice {
		a.loginAppservice(w, r, &body, ip)
		return
	}
	if err := a.limits.Check(ratelimit.LoginAddress, ip); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Type != authPassword {
		httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "Bad login type"))
		return
	}
	identifier, err := a.loginEmail(r.Context(), &body)
	if identifier == "" && err == nil {
		identifier, err = loginIdentifier(&body)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	userID, err := a.svc.ResolveUser(identifier)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.limits.Take(ratelimit.Cost{Action: ratelimit.LoginAccount, Key: userID},
		ratelimit.Cost{Action: ratelimit.LoginFailed, Key: userID, CheckOnly: true}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.svc.Login(r.Context(), users.LoginRequest{
		User: userID, Password: body.Password, DeviceID: body.DeviceID,
		InitialDeviceDisplayName: body.InitialDeviceDisplayName, RefreshToken: body.RefreshToken,
		IP: ip, UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		if merr.CodeOf(err) == merr.CodeForbidden {
			a.limits.Charge(ratelimit.LoginFailed, userID)
		}
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, a.loginResponse(res, true))
}

// loginEmail resolves an email identifier (m.id.thirdparty, or the
// deprecated medium and address) to the account it is bound to; "" with
// no error when the body names no email address. An address bound to no
// account gets the answer of a wrong password, so that login does not
// tell which addresses have accounts.
func (a *AccountAPI) loginEmail(ctx context.Context, body *loginBody) (string, error) {
	medium, address := body.Medium, body.Address
	if id := body.Identifier; id != nil {
		if id.Type != "m.id.thirdparty" {
			return "", nil
		}
		medium, address = id.Medium, id.Address
	}
	if medium != threepid.MediumEmail {
		return "", nil
	}
	addr, err := threepid.CanonicalEmail(address)
	if err != nil {
		return "", err
	}
	userID, err := a.svc.UserByThreepid(ctx, medium, addr)
	if err == nil && userID == "" {
		err = merr.Forbidden("Invalid username or password")
	}
	return userID, err
}

// loginIdentifier extracts the m.id.user identifier from a login body, in
// its current or deprecated form. Other third-party identifiers than
// email are refused with 403, as the spec asks for unknown 3PIDs.
func loginIdentifier(body *loginBody) (string, error) {
	if id := body.Identifier; id != nil {
		switch id.Type {
		case "m.id.user":
			if id.User == "" {
				return "", httpapi.MissingParam("identifier.user is required")
			}
			return id.User, nil
		case "m.id.thirdparty", "m.id.phone":
			return "", httpapi.Forbidden("Unknown third-party identifier")
		default:
			return "", httpapi.Unknown(http.StatusBadRequest, "Unknown login identifier type")
		}
	}
	if body.User != "" {
		return body.User, nil
	}
	if body.Medium != "" || body.Address != "" {
		return "", httpapi.Forbidden("Unknown third-party identifier")
	}
	return "", httpapi.MissingParam("identifier is required")
}

// refreshBody is the body of POST /refresh.
type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh is POST /refresh (refresh.yaml); it needs no access token.
func (a *AccountAPI) refresh(w http.ResponseWriter, r *http.Request) {
	var body refreshBody
	if err := httpapi.ReadJSON(r, accountMaxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.RefreshToken == "" {
		httpapi.WriteError(w, httpapi.MissingParam("refresh_token is required"))
		return
	}
	res, err := a.svc.Refresh(r.Context(), body.RefreshToken)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := map[string]any{"access_token": res.AccessToken, "refresh_token": res.RefreshToken}
	if res.ExpiresIn > 0 {
		out["expires_in_ms"] = res.ExpiresIn.Milliseconds()
	}
	writeAccountJSON(w, out)
}

// logout is POST /logout: the token's device goes, and its tokens with it.
// The body is empty by the spec and not read.
func (a *AccountAPI) logout(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := a.svc.Logout(r.Context(), toUserSession(s)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

// logoutAll is POST /logout/all.
func (a *AccountAPI) logoutAll(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := a.svc.LogoutAll(r.Context(), s.UserID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

func toUserSession(s *httpapi.Session) *users.Session {
	return &users.Session{UserID: s.UserID, DeviceID: s.DeviceID, IsGuest: s.IsGuest, IsAdmin: s.IsAdmin, TokenID: s.TokenID,
		ShadowBanned: s.ShadowBanned, Suspended: s.Suspended}
}
