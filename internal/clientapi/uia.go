package clientapi

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
	"github.com/myelin-chat/myelin/internal/users"
)

// User-interactive authentication (client-server-api, "User-Interactive
// Authentication API").
//
// Sessions are stored (users.CreateUIASession), so a client's next stage
// may reach any process sharing the database.

// Auth types this server implements.
const (
	authPassword          = "m.login.password"
	authDummy             = "m.login.dummy"
	authRegistrationToken = "m.login.registration_token"
)

// authDict is the "auth" object of a UIA request. Stage parameters not
// used by the implemented stages are ignored.
type authDict struct {
	Type       string          `json:"type"`
	Session    string          `json:"session"`
	Password   string          `json:"password"`
	Identifier *userIdentifier `json:"identifier"`
	// User is the deprecated form of identifier for m.login.password.
	User string `json:"user"`
	// Token is the m.login.registration_token stage's token.
	Token string `json:"token"`
	// ThreepidCreds are the m.login.email.identity stage's credentials;
	// threepidCreds is their name before the spec's r0.
	ThreepidCreds    *threepidCreds `json:"threepid_creds"`
	ThreepidCredsOld *threepidCreds `json:"threepidCreds"`
}

// userIdentifier is a user identifier object (client-server-api,
// "Identifier types").
type userIdentifier struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Medium  string `json:"medium"`
	Address string `json:"address"`
	Country string `json:"country"`
	Phone   string `json:"phone"`
}

type uiaFlow struct {
	Stages []string `json:"stages"`
}

// uiaResponse is the 401 body of an unfinished flow.
type uiaResponse struct {
	Flows     []uiaFlow      `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session"`
	Completed []string       `json:"completed,omitempty"`
	Errcode   string         `json:"errcode,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// flowDone reports whether completed finishes one of flows.
func flowDone(flows [][]string, completed []string) bool {
	for _, f := range flows {
		if len(completed) >= len(f) && slices.Equal(completed[:len(f)], f) {
			return true
		}
	}
	return false
}

// nextStageAllowed reports whether stage may come after completed in one
// of flows: stages must be completed in order.
func nextStageAllowed(flows [][]string, completed []string, stage string) bool {
	for _, f := range flows {
		if len(f) > len(completed) && slices.Equal(f[:len(completed)], completed) && f[len(completed)] == stage {
			return true
		}
	}
	return false
}

// readUIABody reads a JSON object body into v and returns its bytes, which
// uiaCheck binds the session to. An empty body is allowed when optional
// (some clients send DELETE without one on the first UIA round).
func readUIABody(r *http.Request, v any, optional bool) ([]byte, error) {
	body, err := httpapi.ReadBody(r, accountMaxBody)
	if err != nil {
		return nil, err
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	return body, httpapi.DecodeJSON(body, v)
}

// bodyDigest hashes a request body without its "auth" key, in canonical
// form so that key order and spacing do not matter. It also reports
// whether anything but auth was there.
func bodyDigest(body []byte) ([]byte, bool, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	canon, err := canonicaljson.Canonicalize(body, canonicaljson.LenientOptions)
	if err != nil {
		return nil, false, httpapi.BadJSON("Malformed JSON")
	}
	if canon, err = canonicaljson.RemoveKeys(canon, "auth"); err != nil {
		return nil, false, httpapi.BadJSON("Content must be a JSON object")
	}
	sum := sha256.Sum256(canon)
	return sum[:], string(canon) != "{}", nil
}

// uiaCheck runs user-interactive authentication for a request whose body
// (raw, as read) carried auth (nil when absent). userID is the
// authenticated caller ("" for registration). It returns true when a flow
// is complete and the endpoint may act; otherwise it has written the
// response: 401 with the flows (and errcode when a stage failed), or
// another error.
//
// A session authorises exactly one request: its method, path and body
// (without auth). The spec's UIA section has the client repeat "the
// request" with auth added, and Synapse's rationale for binding the
// operation applies to the body too: otherwise confirming the deletion of
// one device would also delete any others named later with the same
// session.
func (a *AccountAPI) uiaCheck(w http.ResponseWriter, r *http.Request, body []byte, auth *authDict, flows [][]string, userID string) bool {
	_, ok := a.uiaCheckSession(w, r, body, auth, flows, userID)
	return ok
}

// uiaCheckSession is uiaCheck that also returns the session, for requests
// that finish it (registration).
func (a *AccountAPI) uiaCheckSession(w http.ResponseWriter, r *http.Request, body []byte, auth *authDict, flows [][]string, userID string) (*users.UIASession, bool) {
	if len(flows) == 0 {
		httpapi.WriteError(w, httpapi.Forbidden("This server offers no way to authenticate this request"))
		return nil, false
	}
	digest, hasParams, err := bodyDigest(body)
	if err != nil {
		httpapi.WriteError(w, err)
		return nil, false
	}
	binds := hasParams || (auth != nil && auth.Type != "")
	operation := r.Method + " " + r.URL.Path
	ctx := r.Context()
	var sess *users.UIASession
	if auth != nil && auth.Session != "" {
		sess, err = a.svc.UIASession(ctx, auth.Session)
		if errors.Is(err, merr.ErrNotFound) {
			// As Synapse: a session the server does not know is an error,
			// not a fresh start, so a typo cannot silently restart a flow.
			httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "Unknown session ID"))
			return nil, false
		}
		if err != nil {
			httpapi.WriteError(w, err)
			return nil, false
		}
		if sess.Operation != operation || sess.UserID != userID || sess.Spent {
			httpapi.WriteError(w, errOperationChanged)
			return nil, false
		}
		if sess.BodyHash != nil || binds {
			// A session is bound to the first body that carries
			// parameters or submits a stage; until then (a flow opened
			// with an empty body, as clients do to learn the stages) any
			// body may bind it.
			same, err := a.svc.BindUIABody(ctx, sess, digest)
			if err != nil {
				httpapi.WriteError(w, err)
				return nil, false
			}
			if !same {
				httpapi.WriteError(w, errOperationChanged)
				return nil, false
			}
		}
	} else {
		// A spec note: endpoints using UIA must answer 401 to requests
		// without auth, even when only m.login.dummy is offered.
		if sess, err = a.svc.CreateUIASession(ctx, operation, userID); err == nil && binds {
			_, err = a.svc.BindUIABody(ctx, sess, digest)
		}
		if err != nil {
			httpapi.WriteError(w, err)
			return nil, false
		}
	}

	completed := sess.Completed
	if auth == nil || auth.Type == "" {
		if flowDone(flows, completed) {
			return sess, true
		}
		a.writeUIA(w, flows, sess.ID, completed, nil)
		return nil, false
	}
	if slices.Contains(completed, auth.Type) {
		// Completed stages cannot be retried: report progress, or let the
		// call through if a flow is already done.
		if flowDone(flows, completed) {
			return sess, true
		}
		a.writeUIA(w, flows, sess.ID, completed, nil)
		return nil, false
	}
	if !nextStageAllowed(flows, completed, auth.Type) {
		a.writeUIA(w, flows, sess.ID, completed, merr.BadRequest(merr.CodeUnrecognized, "Stage "+auth.Type+" is not expected here"))
		return nil, false
	}
	if a.authenticatesSomeoneElse(auth, userID) {
		// Credentials of another account can never authorise this
		// request, so retrying the stage is pointless: 403, not 401, as
		// Synapse answers ("Invalid auth") and sytest's "DELETE
		// /device/{deviceId} requires UI auth user to match device owner"
		// expects.
		httpapi.WriteError(w, httpapi.Forbidden("Invalid auth: the credentials are not those of the user making the request"))
		return nil, false
	}
	if err := a.checkStage(r, sess, auth, userID); err != nil {
		me, ok := merr.As(err)
		if !ok || (me.Kind != merr.ErrForbidden && me.Kind != merr.ErrBadRequest) {
			// Not an authentication failure: a normal error response.
			httpapi.WriteError(w, err)
			return nil, false
		}
		a.writeUIA(w, flows, sess.ID, completed, me)
		return nil, false
	}
	if err := a.svc.CompleteUIAStage(ctx, sess, auth.Type); err != nil {
		httpapi.WriteError(w, err)
		return nil, false
	}
	if flowDone(flows, sess.Completed) {
		return sess, true
	}
	a.writeUIA(w, flows, sess.ID, sess.Completed, nil)
	return nil, false
}

// finishUIA marks a session whose request succeeded as spent. The request
// is done by then, so a failure is logged rather than answered.
func (a *AccountAPI) finishUIA(r *http.Request, sess *users.UIASession) {
	if err := a.svc.FinishUIASession(r.Context(), sess); err != nil {
		a.log.Warn("marking a UIA session spent failed", "session", sess.ID, "err", err)
	}
}

// errOperationChanged refuses a session used for another request than the
// one it was opened for, in Synapse's words.
var errOperationChanged = httpapi.Forbidden("Requested operation has changed during the UI authentication session")

// authenticatesSomeoneElse reports whether a password stage names a user
// other than the logged-in caller.
func (a *AccountAPI) authenticatesSomeoneElse(auth *authDict, userID string) bool {
	if auth.Type != authPassword || userID == "" || (auth.Identifier != nil && auth.Identifier.Type != "m.id.user") {
		return false
	}
	resolved, err := a.svc.ResolveUser(claimedUser(auth, userID))
	return err == nil && resolved != userID
}

// claimedUser is the user a password stage names: its m.id.user
// identifier, the deprecated "user" field, or else the caller.
func claimedUser(auth *authDict, userID string) string {
	switch {
	case auth.Identifier != nil:
		return auth.Identifier.User
	case auth.User != "":
		return auth.User
	}
	return userID
}

// checkStage verifies one stage's credentials.
func (a *AccountAPI) checkStage(r *http.Request, sess *users.UIASession, auth *authDict, userID string) error {
	switch auth.Type {
	case authDummy:
		return nil
	case authEmailIdentity:
		return a.checkEmailStage(r, sess, auth)
	case authRegistrationToken:
		if userID != "" {
			return merr.Forbidden("Registration tokens are only for registration")
		}
		return a.svc.ReserveRegistrationToken(r.Context(), sess, auth.Token)
	case authPassword:
		if userID == "" {
			return merr.Forbidden("Password authentication needs an existing account")
		}
		if auth.Identifier != nil && auth.Identifier.Type != "m.id.user" {
			// Re-authentication names the caller by user ID; a 3PID
			// here is not supported (login.yaml: an unknown 3PID is 403).
			return merr.Forbidden("Unknown third-party identifier")
		}
		resolved, err := a.svc.ResolveUser(claimedUser(auth, userID))
		if err != nil || resolved != userID {
			return merr.Forbidden("Invalid username or password")
		}
		if err := a.limits.Peek(ratelimit.LoginFailed, userID); err != nil {
			return err
		}
		if err := a.svc.CheckPassword(r.Context(), userID, auth.Password); err != nil {
			if merr.CodeOf(err) == merr.CodeForbidden {
				a.limits.Charge(ratelimit.LoginFailed, userID)
			}
			return err
		}
		return nil
	}
	return merr.BadRequest(merr.CodeUnrecognized, "Unknown authentication type "+auth.Type)
}

func (a *AccountAPI) writeUIA(w http.ResponseWriter, flows [][]string, session string, completed []string, failure *merr.Error) {
	resp := uiaResponse{Params: map[string]any{}, Session: session, Completed: completed}
	for _, f := range flows {
		resp.Flows = append(resp.Flows, uiaFlow{Stages: f})
	}
	if failure != nil {
		resp.Errcode, resp.Error = failure.Code, failure.Message
	}
	httpapi.WriteJSON(w, http.StatusUnauthorized, resp)
}
