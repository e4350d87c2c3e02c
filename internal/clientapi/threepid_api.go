package clientapi

import (
	"context"
	"html"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/threepid"
	"github.com/myelin-chat/myelin/internal/users"
)

// Email addresses on accounts (client-server-api "Adding Account
// Administrative Contact Information", password reset and registration by
// email). Without the email block these endpoints answer as Synapse does
// when it cannot verify email: 400 M_UNKNOWN with the reason (Synapse's
// "Email-based password resets have been disabled on this server" and its
// siblings), not M_THREEPID_DENIED, which the spec reserves for addresses
// the server does not allow.

// authEmailIdentity is the UIA stage of a validated email session.
const authEmailIdentity = "m.login.email.identity"

// threepidCreds are the credentials of the m.login.email.identity stage
// and the body of /account/3pid/add.
type threepidCreds struct {
	SID           string `json:"sid"`
	ClientSecret  string `json:"client_secret"`
	IDServer      string `json:"id_server"`
	IDAccessToken string `json:"id_access_token"`
}

type requestTokenBody struct {
	ClientSecret  string `json:"client_secret"`
	Email         string `json:"email"`
	SendAttempt   *int64 `json:"send_attempt"`
	NextLink      string `json:"next_link"`
	IDServer      string `json:"id_server"`
	IDAccessToken string `json:"id_access_token"`
}

// emailEnabled reports whether the server validates email itself.
func (a *AccountAPI) emailEnabled() bool { return a.opts.Threepids != nil }

// threepidChangesAllowed is enable_3pid_changes with email configured: the
// m.3pid_changes capability.
func (a *AccountAPI) threepidChangesAllowed() bool {
	return a.emailEnabled() && a.opts.Enable3PIDChanges
}

// readRequestToken reads and checks a requestToken body and takes its
// rc_3pid_validation cost, per client address and per email address as
// Synapse counts it.
func (a *AccountAPI) readRequestToken(r *http.Request) (threepid.Request, error) {
	var body requestTokenBody
	if _, err := readUIABody(r, &body, false); err != nil {
		return threepid.Request{}, err
	}
	if body.SendAttempt == nil {
		return threepid.Request{}, httpapi.MissingParam("send_attempt is required")
	}
	req, err := threepid.CheckRequest(threepid.Request{ClientSecret: body.ClientSecret, Email: body.Email,
		SendAttempt: *body.SendAttempt, NextLink: body.NextLink})
	if err != nil {
		return req, err
	}
	err = a.limits.Take(ratelimit.Cost{Action: ratelimit.ThreepidValidation, Key: "ip:" + httpapi.ClientIP(r)},
		ratelimit.Cost{Action: ratelimit.ThreepidValidation, Key: "email:" + req.Email})
	return req, err
}

// requestToken answers a requestToken call for purpose; check says
// whether the address may be used for it.
func (a *AccountAPI) requestToken(w http.ResponseWriter, r *http.Request, purpose threepid.Purpose, disabled string,
	check func(ctx context.Context, owner string) error) {
	if !a.emailEnabled() {
		if purpose == threepid.AddThreepid {
			// administrative_contact.yaml (v1.13, MSC4178): "the homeserver
			// does not support adding email addresses".
			httpapi.WriteError(w, merr.BadRequest(merr.CodeThreepidMediumNotSupported, disabled))
			return
		}
		// Synapse's answer for the password and registration flows.
		httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, disabled))
		return
	}
	req, err := a.readRequestToken(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	owner, err := a.opts.Threepids.Owner(r.Context(), req.Email)
	if err == nil {
		err = check(r.Context(), owner)
	}
	if code := merr.CodeOf(err); a.opts.InhibitThreepidErrors && (code == merr.CodeThreepidInUse || code == merr.CodeThreepidNotFound) {
		// request_token_inhibit_3pid_errors, as Synapse does it: a made-up
		// session after a pause of 0.1 to 1 s, as if a mail had gone out.
		sleepRandom(r.Context(), 100*time.Millisecond, time.Second)
		writeAccountJSON(w, map[string]string{"sid": threepid.NewSessionID()})
		return
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	sid, err := a.opts.Threepids.RequestToken(r.Context(), purpose, req)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// No submit_url: the token travels only in the link of the mail, as
	// Synapse does for email.
	writeAccountJSON(w, map[string]string{"sid": sid})
}

var errThreepidInUse = merr.BadRequest(merr.CodeThreepidInUse, "Email is already in use")

// unbound is the check of addresses to add or register with: bound to no
// account yet.
func unbound(_ context.Context, owner string) error {
	if owner != "" {
		return errThreepidInUse
	}
	return nil
}

// passwordRequestToken is POST /account/password/email/requestToken
// (password_management.yaml): only for an address bound to an account;
// the spec lets the server say M_THREEPID_NOT_FOUND otherwise.
func (a *AccountAPI) passwordRequestToken(w http.ResponseWriter, r *http.Request) {
	a.requestToken(w, r, threepid.PasswordReset, "Email-based password resets have been disabled on this server",
		func(_ context.Context, owner string) error {
			if owner == "" {
				return merr.BadRequest(merr.CodeThreepidNotFound, "Email not found")
			}
			return nil
		})
}

// addRequestToken is POST /account/3pid/email/requestToken
// (administrative_contact.yaml).
func (a *AccountAPI) addRequestToken(w http.ResponseWriter, r *http.Request) {
	if a.emailEnabled() && !a.opts.Enable3PIDChanges {
		httpapi.WriteError(w, errThreepidChangesDisabled)
		return
	}
	a.requestToken(w, r, threepid.AddThreepid, "Adding an email to your account is disabled on this server", unbound)
}

// registerRequestToken is POST /register/email/requestToken
// (registration.yaml).
func (a *AccountAPI) registerRequestToken(w http.ResponseWriter, r *http.Request) {
	if a.emailEnabled() && !a.opts.EnableRegistration {
		httpapi.WriteError(w, httpapi.Forbidden("Registration has been disabled"))
		return
	}
	a.requestToken(w, r, threepid.Registration, "Email-based registration has been disabled on this server", unbound)
}

// errThreepidChangesDisabled is Synapse's answer with enable_3pid_changes:
// false.
var errThreepidChangesDisabled = merr.BadRequest(merr.CodeForbidden, "3PID changes are disabled on this server")

type addThreepidBody struct {
	Auth *authDict `json:"auth"`
	threepidCreds
}

// addThreepid is POST /account/3pid/add: user-interactive authentication
// (the password), then the validated session's address is bound.
func (a *AccountAPI) addThreepid(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !a.threepidChangesAllowed() {
		httpapi.WriteError(w, errThreepidChangesDisabled)
		return
	}
	var body addThreepidBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.SID == "" || body.ClientSecret == "" {
		httpapi.WriteError(w, httpapi.MissingParam("sid and client_secret are required"))
		return
	}
	sess, ok := a.uiaCheckSession(w, r, raw, body.Auth, a.passwordFlows(), s.UserID)
	if !ok {
		return
	}
	v, err := a.opts.Threepids.Consume(r.Context(), threepid.AddThreepid, body.SID, body.ClientSecret)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.svc.AddThreepid(r.Context(), s.UserID, threepid.MediumEmail, v.Address, v.ValidatedTS); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.finishUIA(r, sess)
	writeAccountJSON(w, map[string]any{})
}

type deleteThreepidBody struct {
	Medium   string `json:"medium"`
	Address  string `json:"address"`
	IDServer string `json:"id_server"`
}

// deleteThreepid is POST /account/3pid/delete. No address is ever bound
// at an identity server by Myelin, so there is none to unbind from:
// "no-support", as Synapse answers when it knows of no identity server.
func (a *AccountAPI) deleteThreepid(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !a.opts.Enable3PIDChanges {
		httpapi.WriteError(w, errThreepidChangesDisabled)
		return
	}
	// A suspended user may change or add admin contacts, "but not remove"
	// them (client-server-api "Account suspension").
	if err := httpapi.RefuseSuspended(s, "Removing a contact address"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body deleteThreepidBody
	if _, err := readUIABody(r, &body, false); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Medium == "" || body.Address == "" {
		httpapi.WriteError(w, httpapi.MissingParam("medium and address are required"))
		return
	}
	address := body.Address
	if body.Medium == threepid.MediumEmail {
		if addr, err := threepid.CanonicalEmail(address); err == nil {
			address = addr
		}
	}
	if err := a.svc.DeleteThreepid(r.Context(), s.UserID, body.Medium, address); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]string{"id_server_unbind_result": "no-support"})
}

// checkEmailStage runs the m.login.email.identity stage: the session the
// credentials name must have been validated for the purpose of the
// request, and is used up by it.
func (a *AccountAPI) checkEmailStage(r *http.Request, sess *users.UIASession, auth *authDict) error {
	purpose, ok := a.emailStagePurpose(sess)
	if !ok || !a.emailEnabled() {
		return merr.BadRequest(merr.CodeUnrecognized, "Email validation is not a stage of this request")
	}
	creds := auth.ThreepidCreds
	if creds == nil {
		creds = auth.ThreepidCredsOld
	}
	if creds == nil {
		return merr.MissingParam("threepid_creds is required")
	}
	v, err := a.opts.Threepids.Consume(r.Context(), purpose, creds.SID, creds.ClientSecret)
	if err != nil {
		if me, ok := merr.As(err); ok && me.Code == merr.CodeThreepidAuthFailed {
			// A stage failure (401 with the flows), as the spec's UIA
			// section answers a failed stage.
			return merr.New(merr.ErrForbidden, merr.CodeThreepidAuthFailed, me.Message)
		}
		return err
	}
	return a.svc.SetUIAEmail(r.Context(), sess, v.Address, v.ValidatedTS)
}

// emailStagePurpose is what an email stage validates for a session's
// operation: a password reset (POST /account/password without a token)
// or a registration.
func (a *AccountAPI) emailStagePurpose(sess *users.UIASession) (threepid.Purpose, bool) {
	if sess.UserID != "" {
		return "", false
	}
	for _, p := range clientPrefixes {
		switch sess.Operation {
		case "POST " + p + "/account/password":
			return threepid.PasswordReset, true
		case "POST " + p + "/register":
			return threepid.Registration, true
		}
	}
	return "", false
}

// submitToken serves the validation links of the mail, at Synapse's paths.
// Registration and added addresses validate on GET, as in Synapse. A
// password reset asks for a confirmation first (GET shows a form that
// POSTs back), as Synapse does, so that a mail scanner fetching the link
// cannot reset a password the user did not mean to.
func (a *AccountAPI) submitToken(purpose threepid.Purpose) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.emailEnabled() {
			writeHTMLPage(w, http.StatusNotFound, "Not available", "Email validation is not enabled on this server.")
			return
		}
		q := r.URL.Query()
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err == nil {
				q = r.Form
			}
		}
		if purpose == threepid.PasswordReset && r.Method == http.MethodGet {
			writeConfirmPage(w, r.URL.Path, q.Get("token"), q.Get("client_secret"), q.Get("sid"))
			return
		}
		next, err := a.opts.Threepids.SubmitToken(r.Context(), purpose, q.Get("sid"), q.Get("client_secret"), q.Get("token"))
		if err != nil {
			msg := "The link could not be validated."
			if me, ok := merr.As(err); ok {
				msg = me.Message
			}
			writeHTMLPage(w, http.StatusBadRequest, "Validation failed", msg)
			return
		}
		if next != "" {
			http.Redirect(w, r, next, http.StatusFound)
			return
		}
		done := "Your email address has been validated. Return to your client to continue."
		if purpose == threepid.PasswordReset {
			done = "Your email address has been validated. Return to your client to choose your new password."
		}
		writeHTMLPage(w, http.StatusOK, "Validated", done)
	}
}

// submitPageMaxBody bounds the confirmation form's body.
const submitPageMaxBody = 8 << 10

func writeHTMLPage(w http.ResponseWriter, status int, title, msg string) {
	h := html.EscapeString
	writeHTML(w, status, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"+h(title)+"</title></head><body><h1>"+
		h(title)+"</h1><p>"+h(msg)+"</p></body></html>")
}

func writeConfirmPage(w http.ResponseWriter, action, token, clientSecret, sid string) {
	h := html.EscapeString
	hidden := func(name, v string) string {
		return "<input type=\"hidden\" name=\"" + name + "\" value=\"" + h(v) + "\">"
	}
	writeHTML(w, http.StatusOK, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Reset your password</title></head><body>"+
		"<h1>Reset your password</h1><p>Confirm that you want to reset the password of your account.</p>"+
		"<form method=\"post\" action=\""+h(action)+"\">"+hidden("token", token)+hidden("client_secret", clientSecret)+
		hidden("sid", sid)+"<button type=\"submit\">Confirm</button></form></body></html>")
}

func writeHTML(w http.ResponseWriter, status int, page string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The pages carry nothing to cache and must not be framed.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// registerThreepid adds the email endpoints to the router.
func (a *AccountAPI) registerThreepid(rt *httpapi.Router, plain func(string, string, http.HandlerFunc), user func(string, string, httpapi.AuthHandler)) {
	plain("POST", "/account/password/email/requestToken", a.passwordRequestToken)
	plain("POST", "/account/3pid/email/requestToken", a.addRequestToken)
	plain("POST", "/register/email/requestToken", a.registerRequestToken)
	// Myelin sends no SMS, so no phone number can be validated or added
	// (administrative_contact.yaml: M_THREEPID_MEDIUM_NOT_SUPPORTED, v1.13;
	// the same answer for registration and password resets by phone).
	for _, p := range []string{"/account/3pid/msisdn/requestToken", "/register/msisdn/requestToken", "/account/password/msisdn/requestToken"} {
		plain("POST", p, noPhoneNumbers)
	}
	user("POST", "/account/3pid/add", a.addThreepid)
	user("POST", "/account/3pid/delete", a.deleteThreepid)
	for _, p := range []threepid.Purpose{threepid.PasswordReset, threepid.AddThreepid, threepid.Registration} {
		h := http.MaxBytesHandler(a.submitToken(p), submitPageMaxBody)
		rt.Handle("GET /"+threepid.SubmitPaths[p], h)
		rt.Handle("POST /"+threepid.SubmitPaths[p], h)
	}
}

// sleepRandom waits a random time in [lo, hi), or until ctx ends.
func sleepRandom(ctx context.Context, lo, hi time.Duration) {
	t := time.NewTimer(lo + rand.N(hi-lo))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// noPhoneNumbers answers the msisdn requestToken endpoints.
func noPhoneNumbers(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteError(w, merr.BadRequest(merr.CodeThreepidMediumNotSupported, "This server does not support phone numbers"))
}
