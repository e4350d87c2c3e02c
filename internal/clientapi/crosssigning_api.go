package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

type deviceSigningBody struct {
	MasterKey      json.RawMessage `json:"master_key"`
	SelfSigningKey json.RawMessage `json:"self_signing_key"`
	UserSigningKey json.RawMessage `json:"user_signing_key"`
	Auth           *authDict       `json:"auth"`
}

// uploadDeviceSigningKeys is POST /keys/device_signing/upload
// (cross_signing.yaml). User-interactive authentication is required
// unless the user has no master key yet or the request holds no new key.
func (a *E2EEAPI) uploadDeviceSigningKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body deviceSigningBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	up := e2ee.CrossSigningUpload{MasterKey: body.MasterKey, SelfSigningKey: body.SelfSigningKey, UserSigningKey: body.UserSigningKey}
	needsAuth, err := a.Service.CrossSigningNeedsAuth(r.Context(), s.UserID, up)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if needsAuth && !a.UIA.uiaCheck(w, r, raw, body.Auth, a.UIA.passwordFlows(), s.UserID) {
		return
	}
	if err := a.Service.UploadCrossSigningKeys(r.Context(), s.UserID, up, needsAuth); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, emptyObject)
}

// uploadSignatures is POST /keys/signatures/upload (cross_signing.yaml):
// the answer lists the keys whose signatures were refused.
func (a *E2EEAPI) uploadSignatures(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body map[string]map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	failures, err := a.Service.UploadSignatures(r.Context(), s.UserID, body)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"failures": failures})
}
