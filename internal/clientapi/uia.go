package clientapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
)

// User-interactive authentication (client-server-api, "User-Interactive
// Authentication API").
//
// Sessions live in memory: a client must finish a flow against the process
// that started it. That holds for a single process; a multi-process
// deployment needs sticky routing for these endpoints until sessions move
// to the database.

// Auth types this server implements.
const (
	authPassword          = "m.login.password"
	authDummy             = "m.login.dummy"
	authRegistrationToken = "m.login.registration_token"
)

const (
	// uiaSessionLifetime bounds how long a client may take to finish a
	// flow. Synapse keeps sessions for two days; an hour is plenty for the
	// stages offered here and keeps memory use low.
	uiaSessionLifetime = time.Hour
	// maxUIASessions bounds memory: registration sessions can be opened by
	// anyone. The oldest are dropped first.
	maxUIASessions = 10_000
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

type uiaSession struct {
	id        string
	expires   time.Time
	operation string // method and path: a session serves one API call
	userID    string // "" for registration
	// bodyHash is the SHA-256 of the canonical request body without its
	// "auth" key, once the session is bound to one body (see bindBody).
	bodyHash  []byte
	completed []string
	// regToken is the registration token whose pending use this session
	// holds (see users.ReserveRegistrationToken), "" for none.
	regToken string
	// spent is set once the session authorised a request that succeeded
	// and must not authorise another (registration).
	spent bool
	// email is the address the m.login.email.identity stage validated,
	// with when it was validated.
	email            string
	emailValidatedTS int64
}

type uiaStore struct {
	now      func() time.Time
	mu       sync.Mutex
	sessions map[string]*uiaSession
	order    []string
	// onDrop runs (with mu held) for each session that ends: expired,
	// evicted or finished. nil: nothing to do.
	onDrop func(*uiaSession)
}

func newUIAStore(now func() time.Time) *uiaStore {
	return &uiaStore{now: now, sessions: make(map[string]*uiaSession)}
}

func (st *uiaStore) create(operation, userID string) *uiaSession {
	var b [18]byte
	_, _ = rand.Read(b[:])
	s := &uiaSession{id: base64.RawURLEncoding.EncodeToString(b[:]), expires: st.now().Add(uiaSessionLifetime),
		operation: operation, userID: userID}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expire()
	for len(st.sessions) >= maxUIASessions && len(st.order) > 0 {
		st.drop(st.order[0])
		st.order = st.order[1:]
	}
	st.sessions[s.id] = s
	st.order = append(st.order, s.id)
	return s
}

func (st *uiaStore) get(id string) *uiaSession {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expire()
	return st.sessions[id]
}

// drop forgets a session; callers hold mu and keep order consistent.
func (st *uiaStore) drop(id string) {
	if s, ok := st.sessions[id]; ok {
		delete(st.sessions, id)
		if st.onDrop != nil {
			st.onDrop(s)
		}
	}
}

// finish marks a session whose request succeeded as spent, so that it
// cannot authorise another request, and ends its registration token's
// pending use. It stays known until it expires, so a reuse is told why
// it is refused.
func (st *uiaStore) finish(s *uiaSession) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.spent = true
	if s.regToken != "" && st.onDrop != nil {
		st.onDrop(s)
	}
	s.regToken = ""
}

// isSpent reports whether finish was called for s.
func (st *uiaStore) isSpent(s *uiaSession) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.spent
}

// sweep drops expired sessions now, so that their registration tokens'
// pending uses end on time.
func (st *uiaStore) sweep() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expire()
}

// holdToken records that s holds a pending use of token; false if it
// holds one already (two requests raced through the stage).
func (st *uiaStore) holdToken(s *uiaSession, token string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.regToken != "" {
		return false
	}
	s.regToken = token
	return true
}

// setEmail records the address the email stage validated.
func (st *uiaStore) setEmail(s *uiaSession, address string, validatedTS int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.email, s.emailValidatedTS = address, validatedTS
}

// emailOf returns the address the email stage validated, "" for none.
func (st *uiaStore) emailOf(s *uiaSession) (string, int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.email, s.emailValidatedTS
}

// tokenOf returns the registration token s holds.
func (st *uiaStore) tokenOf(s *uiaSession) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.regToken
}

// complete records a finished stage; it returns a copy of the stages done.
func (st *uiaStore) complete(s *uiaSession, stage string) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Contains(s.completed, stage) {
		s.completed = append(s.completed, stage)
	}
	return slices.Clone(s.completed)
}

// bindBody checks that a request's body is the one the session
// authorises. A session is bound to the first body that carries
// parameters or submits a stage; until then (a flow opened with an empty
// body, as clients do to learn the stages) any body may bind it.
func (st *uiaStore) bindBody(s *uiaSession, hash []byte, binds bool) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.bodyHash == nil {
		if binds {
			s.bodyHash = hash
		}
		return true
	}
	return bytes.Equal(s.bodyHash, hash)
}

func (st *uiaStore) completedOf(s *uiaSession) []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(s.completed)
}

// expire drops sessions past their lifetime; callers hold mu.
func (st *uiaStore) expire() {
	now := st.now()
	i := 0
	for ; i < len(st.order); i++ {
		s, ok := st.sessions[st.order[i]]
		if ok && now.Before(s.expires) {
			break
		}
		st.drop(st.order[i])
	}
	st.order = st.order[i:]
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
func (a *AccountAPI) uiaCheckSession(w http.ResponseWriter, r *http.Request, body []byte, auth *authDict, flows [][]string, userID string) (*uiaSession, bool) {
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
	var sess *uiaSession
	if auth != nil && auth.Session != "" {
		sess = a.uia.get(auth.Session)
		if sess == nil {
			// As Synapse: a session the server does not know is an error,
			// not a fresh start, so a typo cannot silently restart a flow.
			httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "Unknown session ID"))
			return nil, false
		}
		if sess.operation != operation || sess.userID != userID || a.uia.isSpent(sess) || !a.uia.bindBody(sess, digest, binds) {
			httpapi.WriteError(w, httpapi.Forbidden("Requested operation has changed during the UI authentication session"))
			return nil, false
		}
	} else {
		// A spec note: endpoints using UIA must answer 401 to requests
		// without auth, even when only m.login.dummy is offered.
		sess = a.uia.create(operation, userID)
		a.uia.bindBody(sess, digest, binds)
	}

	completed := a.uia.completedOf(sess)
	if auth == nil || auth.Type == "" {
		if flowDone(flows, completed) {
			return sess, true
		}
		a.writeUIA(w, flows, sess.id, completed, nil)
		return nil, false
	}
	if slices.Contains(completed, auth.Type) {
		// Completed stages cannot be retried: report progress, or let the
		// call through if a flow is already done.
		if flowDone(flows, completed) {
			return sess, true
		}
		a.writeUIA(w, flows, sess.id, completed, nil)
		return nil, false
	}
	if !nextStageAllowed(flows, completed, auth.Type) {
		a.writeUIA(w, flows, sess.id, completed, merr.BadRequest(merr.CodeUnrecognized, "Stage "+auth.Type+" is not expected here"))
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
		a.writeUIA(w, flows, sess.id, completed, me)
		return nil, false
	}
	completed = a.uia.complete(sess, auth.Type)
	if flowDone(flows, completed) {
		return sess, true
	}
	a.writeUIA(w, flows, sess.id, completed, nil)
	return nil, false
}

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
func (a *AccountAPI) checkStage(r *http.Request, sess *uiaSession, auth *authDict, userID string) error {
	switch auth.Type {
	case authDummy:
		return nil
	case authEmailIdentity:
		return a.checkEmailStage(r, sess, auth)
	case authRegistrationToken:
		if userID != "" {
			return merr.Forbidden("Registration tokens are only for registration")
		}
		a.uia.sweep()
		if err := a.svc.ReserveRegistrationToken(r.Context(), auth.Token); err != nil {
			return err
		}
		if !a.uia.holdToken(sess, auth.Token) {
			a.svc.ReleaseRegistrationToken(auth.Token)
		}
		return nil
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
