package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/users"
)

// authAppservice is the login and registration type of application
// services (application-service-api.md, "Server admin style permissions").
const authAppservice = "m.login.application_service"

// appserviceOf returns the application service whose as_token the request
// carries. As Synapse answers (and the Application Service API asks): no
// token is 401 M_MISSING_TOKEN, a token that is not an as_token 401
// M_UNKNOWN_TOKEN.
func (a *AccountAPI) appserviceOf(r *http.Request) (*appservice.Registration, error) {
	token, err := httpapi.AccessToken(r)
	if err != nil {
		return nil, err
	}
	reg := a.svc.AppserviceByToken(token)
	if reg == nil {
		return nil, httpapi.UnknownToken("This login type is only valid for application services", false)
	}
	return reg, nil
}

// registerAppservice is POST /register with type
// m.login.application_service: no user-interactive authentication, no
// registration token; the user must be in the appservice's namespaces.
// The registration rate limit applies only to appservices with
// rate_limited: true (the default), as Synapse exempts the others.
func (a *AccountAPI) registerAppservice(w http.ResponseWriter, r *http.Request, body *registerBody, ip string) {
	reg, err := a.appserviceOf(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Username == "" {
		httpapi.WriteError(w, httpapi.MissingParam("Missing params: username"))
		return
	}
	if reg.IsRateLimited() {
		if err := a.limits.Peek(ratelimit.Registration, ip); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	res, err := a.svc.Register(r.Context(), users.RegisterRequest{
		Username: body.Username, Appservice: reg,
		DeviceID: body.DeviceID, InitialDeviceDisplayName: body.InitialDeviceDisplayName,
		InhibitLogin: body.InhibitLogin, RefreshToken: body.RefreshToken,
		IP: ip, UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if reg.IsRateLimited() {
		a.limits.Charge(ratelimit.Registration, ip)
	}
	writeAccountJSON(w, a.loginResponse(res, false))
}

// loginAppservice is POST /login with type m.login.application_service
// (client-server-api "Appservice Login"). Like Synapse, it skips the login
// rate limits for appservices with rate_limited: false.
func (a *AccountAPI) loginAppservice(w http.ResponseWriter, r *http.Request, body *loginBody, ip string) {
	reg, err := a.appserviceOf(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if reg.IsRateLimited() {
		if err := a.limits.Check(ratelimit.LoginAddress, ip); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	identifier, err := loginIdentifier(body)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.svc.LoginAppservice(r.Context(), reg, users.LoginRequest{
		User: identifier, DeviceID: body.DeviceID,
		InitialDeviceDisplayName: body.InitialDeviceDisplayName, RefreshToken: body.RefreshToken,
		IP: ip, UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, a.loginResponse(res, true))
}
