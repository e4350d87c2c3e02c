package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// E2EEAPI serves end-to-end encryption: to-device messages and keys.
type E2EEAPI struct {
	Service *e2ee.Service
	Auth    httpapi.TokenResolver
	// UIA runs user-interactive authentication, which replacing
	// cross-signing keys needs.
	UIA *AccountAPI
	// Dehydration serves dehydrated devices (MSC3814;
	// experimental_features.msc3814_enabled).
	Dehydration bool
}

// maxToDeviceBody bounds a sendToDevice body: a room key shared with every
// device of a large room is one request of thousands of encrypted copies.
const maxToDeviceBody = 16 << 20

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *E2EEAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		// Guests may use these (client-server-api "Guest Access").
		guest := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuthAllowGuests(a.Auth, h))
		}
		guest("PUT", "/sendToDevice/{eventType}/{txnId}", a.sendToDevice)
		guest("POST", "/keys/upload", a.uploadKeys)
		guest("POST", "/keys/query", a.queryKeys)
		guest("POST", "/keys/claim", a.claimKeys)
		auth("POST", "/keys/device_signing/upload", a.uploadDeviceSigningKeys)
		auth("POST", "/keys/signatures/upload", a.uploadSignatures)
		auth("GET", "/keys/changes", a.keyChanges)
	}
	if a.Dehydration {
		a.registerDehydrated(rt)
	}
}

type sendToDeviceBody struct {
	Messages map[string]map[string]json.RawMessage `json:"messages"`
}

// sendToDevice is PUT /sendToDevice/{eventType}/{txnId} (to_device.yaml).
func (a *E2EEAPI) sendToDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body sendToDeviceBody
	if err := httpapi.ReadJSON(r, maxToDeviceBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Messages == nil {
		httpapi.WriteError(w, httpapi.MissingParam("messages is required"))
		return
	}
	err := a.Service.SendToDevice(r.Context(), e2ee.ToDeviceRequest{Sender: s.UserID, SenderDevice: s.DeviceID,
		TxnID: r.PathValue("txnId"), Type: r.PathValue("eventType"), Messages: body.Messages})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, emptyObject)
}
