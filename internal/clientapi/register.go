package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/users"
)

// registerBody is the body of POST /register (registration.yaml).
type registerBody struct {
	// Type is m.login.application_service for an appservice's
	// registration, which skips user-interactive authentication.
	Type                     string    `json:"type"`
	Auth                     *authDict `json:"auth"`
	Username                 string    `json:"username"`
	Password                 string    `json:"password"`
	DeviceID                 string    `json:"device_id"`
	InitialDeviceDisplayName string    `json:"initial_device_display_name"`
	InhibitLogin             bool      `json:"inhibit_login"`
	RefreshToken             bool      `json:"refresh_token"`
	// GuestAccessToken upgrades the guest it belongs to into a full
	// account (client-server-api "Guest Access").
	GuestAccessToken string `json:"guest_access_token"`
}

// registrationFlows are the UIA flows for registration, as Synapse builds
// them: m.login.email.identity alone when registrations_require_3pid
// names email; m.login.dummy when registration needs no verification,
// with email as a second flow when email is configured; and with
// registration_requires_token the token stage in front of every flow.
// Without any of these open registration has no flow (the configuration
// refuses that anyway).
func (a *AccountAPI) registrationFlows() [][]string {
	var flows [][]string
	switch {
	case a.opts.RegistrationRequiresEmail:
		flows = [][]string{{authEmailIdentity}}
	case a.opts.RegistrationWithoutVerification || a.opts.RegistrationRequiresToken:
		flows = [][]string{{authDummy}}
		if a.emailEnabled() {
			flows = append(flows, []string{authEmailIdentity})
		}
	}
	if a.opts.RegistrationRequiresToken {
		for i, f := range flows {
			flows[i] = append([]string{authRegistrationToken}, f...)
		}
	}
	return flows
}

// register is POST /register.
func (a *AccountAPI) register(w http.ResponseWriter, r *http.Request) {
	var body registerBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ip := httpapi.ClientIP(r)
	if body.Type == authAppservice {
		a.registerAppservice(w, r, &body, ip)
		return
	}
	if err := a.limits.Peek(ratelimit.Registration, ip); err != nil {
		httpapi.WriteError(w, err)
		return
	}

	kind := r.URL.Query().Get("kind")
	switch kind {
	case "", "user":
	case "guest":
		a.registerGuest(w, r, &body, ip)
		return
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("kind must be \"user\" or \"guest\""))
		return
	}

	if !a.opts.EnableRegistration {
		httpapi.WriteError(w, httpapi.Forbidden("Registration has been disabled"))
		return
	}
	guestID := ""
	if body.GuestAccessToken != "" {
		// The guest keeps its user ID; username, which the spec asks for,
		// must then be its localpart.
		gs, err := a.Resolve(r.Context(), body.GuestAccessToken)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if !gs.IsGuest {
			httpapi.WriteError(w, httpapi.Forbidden("guest_access_token is not a guest's access token"))
			return
		}
		guestID = gs.UserID
		if u, err := ids.ParseUserID(guestID); err != nil || (body.Username != "" && body.Username != u.Localpart) {
			httpapi.WriteError(w, httpapi.InvalidParam("username must be the guest's localpart"))
			return
		}
	}
	// registration.yaml: M_USER_IN_USE and M_INVALID_USERNAME MUST be
	// returned before user-interactive authentication. A weak password is
	// refused early too, so the user is not sent through UIA in vain.
	if body.Username != "" && guestID == "" {
		if _, err := a.svc.ValidateUsername(r.Context(), body.Username); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	if body.Password != "" {
		if err := a.svc.CheckPolicy(body.Password); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	sess, ok := a.uiaCheckSession(w, r, raw, body.Auth, a.registrationFlows(), "")
	if !ok {
		return
	}
	// Only now: clients open the flow with an empty body to learn the
	// stages. An account without a password could never log in or pass
	// UIA, so Synapse refuses it too.
	if body.Password == "" {
		httpapi.WriteError(w, httpapi.MissingParam("Missing params: password"))
		return
	}
	if guestID != "" {
		res, err := a.svc.UpgradeGuest(r.Context(), users.UpgradeGuestRequest{
			UserID: guestID, Password: body.Password,
			DeviceID: body.DeviceID, InitialDeviceDisplayName: body.InitialDeviceDisplayName,
			InhibitLogin: body.InhibitLogin, RefreshToken: body.RefreshToken, IP: ip, UserAgent: httpapi.UserAgent(r),
		})
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		a.finishUIA(r, sess)
		writeAccountJSON(w, a.loginResponse(res, false))
		return
	}
	res, err := a.svc.Register(r.Context(), users.RegisterRequest{
		Username: body.Username, Password: body.Password,
		DeviceID: body.DeviceID, InitialDeviceDisplayName: body.InitialDeviceDisplayName,
		InhibitLogin: body.InhibitLogin, RefreshToken: body.RefreshToken,
		RegistrationToken: sess.RegistrationToken,
		IP:                ip, UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// The session is spent: it must not register a second account, and
	// its token's use is now stored rather than pending.
	a.finishUIA(r, sess)
	if address, validated := sess.Email, sess.EmailValidatedTS; address != "" {
		// The account exists now; an address taken meanwhile by another
		// account is left off rather than failing the registration.
		if err := a.svc.AddThreepid(r.Context(), res.UserID, "email", address, validated); err != nil {
			a.log.Warn("binding the registered email address failed", "user", res.UserID, "err", err)
		}
	}
	a.limits.Charge(ratelimit.Registration, ip)
	writeAccountJSON(w, a.loginResponse(res, false))
}

// registerGuest handles kind=guest, which does not use UIA
// (registration.yaml).
func (a *AccountAPI) registerGuest(w http.ResponseWriter, r *http.Request, body *registerBody, ip string) {
	if !a.opts.AllowGuestAccess {
		httpapi.WriteError(w, httpapi.GuestAccessForbidden("Guest access is disabled"))
		return
	}
	res, err := a.svc.Register(r.Context(), users.RegisterRequest{
		Guest: true, InitialDeviceDisplayName: body.InitialDeviceDisplayName, IP: ip, UserAgent: httpapi.UserAgent(r),
	})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.limits.Charge(ratelimit.Registration, ip)
	writeAccountJSON(w, a.loginResponse(res, false))
}

// loginResponse is the shared body of /register and /login responses.
// home_server is deprecated but still read by older clients.
func (a *AccountAPI) loginResponse(res *users.LoginResult, wellKnown bool) map[string]any {
	out := map[string]any{
		"user_id":     res.UserID,
		"home_server": string(a.svc.ServerName()),
	}
	if res.AccessToken != "" {
		out["access_token"] = res.AccessToken
		out["device_id"] = res.DeviceID
		if res.RefreshToken != "" {
			out["refresh_token"] = res.RefreshToken
		}
		if res.ExpiresIn > 0 {
			out["expires_in_ms"] = res.ExpiresIn.Milliseconds()
		}
	}
	if wellKnown && a.opts.PublicBaseURL != "" {
		out["well_known"] = a.clientWellKnown()
	}
	return out
}

// registerAvailable is GET /register/available: whether a username is
// valid and free (registration.yaml).
func (a *AccountAPI) registerAvailable(w http.ResponseWriter, r *http.Request) {
	if !a.opts.EnableRegistration {
		httpapi.WriteError(w, httpapi.Forbidden("Registration has been disabled"))
		return
	}
	// Probing names is cheap for the client and costs a database read here.
	if err := a.limits.Check(ratelimit.RegisterAvailable, httpapi.ClientIP(r)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	username := r.URL.Query().Get("username")
	if username == "" {
		httpapi.WriteError(w, httpapi.MissingParam("Missing username"))
		return
	}
	if _, err := a.svc.ValidateUsername(r.Context(), username); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]bool{"available": true})
}

// registrationTokenValidity is GET
// /_matrix/client/v1/register/m.login.registration_token/validity
// (registration_tokens.yaml): whether a token could be used now.
func (a *AccountAPI) registrationTokenValidity(w http.ResponseWriter, r *http.Request) {
	if !a.opts.EnableRegistration {
		httpapi.WriteError(w, httpapi.Forbidden("Registration is not enabled on this homeserver."))
		return
	}
	if err := a.limits.Check(ratelimit.RegistrationTokenValidity, httpapi.ClientIP(r)); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	token, ok := r.URL.Query()["token"]
	if !ok {
		httpapi.WriteError(w, httpapi.MissingParam("Missing string query parameter 'token'"))
		return
	}
	valid, err := a.svc.RegistrationTokenValid(r.Context(), token[0])
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]bool{"valid": valid})
}
