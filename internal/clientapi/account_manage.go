package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// whoami is GET /account/whoami (whoami.yaml).
func (a *AccountAPI) whoami(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	out := map[string]any{"user_id": s.UserID, "is_guest": s.IsGuest}
	if s.DeviceID != "" {
		out["device_id"] = s.DeviceID
	}
	writeAccountJSON(w, out)
}

// passwordFlows is the UIA for actions that need the user to prove it is
// them again: their password, when password authentication is enabled.
func (a *AccountAPI) passwordFlows() [][]string {
	if a.svc.Options().PasswordReauth {
		return [][]string{{authPassword}}
	}
	return nil
}

type changePasswordBody struct {
	Auth          *authDict `json:"auth"`
	NewPassword   string    `json:"new_password"`
	LogoutDevices *bool     `json:"logout_devices"`
}

// changePassword is POST /account/password (password_management.yaml).
// With an access token the user proves it is them with their password;
// without one it is a password reset: the m.login.email.identity stage
// proves control of an address bound to the account (when email is
// configured; otherwise the request needs a token, as before).
func (a *AccountAPI) changePassword(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	switch {
	case s == nil && !a.emailEnabled():
		httpapi.WriteError(w, httpapi.MissingToken("Missing access token"))
		return
	case s != nil && s.IsGuest:
		httpapi.WriteError(w, httpapi.GuestAccessForbidden("Guest access is not allowed for this endpoint"))
		return
	}
	var body changePasswordBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.NewPassword == "" {
		httpapi.WriteError(w, httpapi.MissingParam("new_password is required"))
		return
	}
	// Checked before UIA so the user is not asked for their password in
	// vain.
	if err := a.svc.CheckPolicy(body.NewPassword); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	logout := body.LogoutDevices == nil || *body.LogoutDevices // defaults to true
	if s == nil {
		a.resetPassword(w, r, raw, &body, logout)
		return
	}
	if !a.uiaCheck(w, r, raw, body.Auth, a.passwordFlows(), s.UserID) {
		return
	}
	if err := a.svc.ChangePassword(r.Context(), s.UserID, body.NewPassword, logout, s.DeviceID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

// resetPassword is the tokenless POST /account/password: the email stage
// names the account by its validated address.
func (a *AccountAPI) resetPassword(w http.ResponseWriter, r *http.Request, raw []byte, body *changePasswordBody, logout bool) {
	sess, ok := a.uiaCheckSession(w, r, raw, body.Auth, [][]string{{authEmailIdentity}}, "")
	if !ok {
		return
	}
	address := sess.Email
	owner, err := a.svc.UserByThreepid(r.Context(), "email", address)
	if err == nil && owner == "" {
		// The address was unbound after its session was validated. The
		// spec is silent; the requestToken endpoint's answer fits.
		err = merr.BadRequest(merr.CodeThreepidNotFound, "Email not found")
	}
	if err == nil {
		// No device to keep: the request has no access token.
		err = a.svc.ChangePassword(r.Context(), owner, body.NewPassword, logout, "")
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.finishUIA(r, sess)
	writeAccountJSON(w, map[string]any{})
}

type deactivateBody struct {
	Auth     *authDict `json:"auth"`
	IDServer string    `json:"id_server"`
	Erase    bool      `json:"erase"`
}

// deactivate is POST /account/deactivate (account_deactivation.yaml).
func (a *AccountAPI) deactivate(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body deactivateBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !a.uiaCheck(w, r, raw, body.Auth, a.passwordFlows(), s.UserID) {
		return
	}
	if err := a.svc.Deactivate(r.Context(), s.UserID, body.Erase); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// No 3PIDs are ever bound to an identity server, so there was nothing
	// to unbind, which the spec calls "success".
	writeAccountJSON(w, map[string]string{"id_server_unbind_result": "success"})
}

// threepids is GET /account/3pid.
func (a *AccountAPI) threepids(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	tps, err := a.svc.ListThreepids(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(tps))
	for i, t := range tps {
		out[i] = map[string]any{"medium": t.Medium, "address": t.Address, "validated_at": t.ValidatedAt, "added_at": t.AddedAt}
	}
	writeAccountJSON(w, map[string]any{"threepids": out})
}

// whois is GET /admin/whois/{userId} (admin.yaml): for the user themself or
// a server admin. Sessions are reported per device, with the device's last
// connection.
func (a *AccountAPI) whois(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	target := r.PathValue("userId")
	if target != s.UserID && !s.IsAdmin {
		httpapi.WriteError(w, httpapi.Forbidden("You may only look up yourself"))
		return
	}
	if !a.svc.IsLocal(target) {
		httpapi.WriteError(w, httpapi.NotFound("User not found"))
		return
	}
	devices, err := a.svc.ListDevices(r.Context(), target)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := map[string]any{}
	for _, d := range devices {
		conns := []map[string]any{}
		if d.LastSeenTS != 0 {
			conns = append(conns, map[string]any{"ip": d.LastSeenIP, "last_seen": d.LastSeenTS, "user_agent": d.LastSeenUserAgent})
		}
		out[d.DeviceID] = map[string]any{"sessions": []map[string]any{{"connections": conns}}}
	}
	writeAccountJSON(w, map[string]any{"user_id": target, "devices": out})
}
