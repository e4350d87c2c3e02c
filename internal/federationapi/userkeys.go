package federationapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
)

// UserKeys answers other servers' questions about local users' devices
// and keys (server-server-api "Device Management" and "End-to-End
// Encryption"); the e2ee service implements it. Each method returns the
// response body.
type UserKeys interface {
	UserDevices(ctx context.Context, userID string) (json.RawMessage, error)
	FederationQuery(ctx context.Context, users map[string][]string) (json.RawMessage, error)
	FederationClaim(ctx context.Context, claims map[string]map[string]string) (json.RawMessage, error)
}

// maxUserKeysBody bounds /user/keys/query and /user/keys/claim bodies.
const maxUserKeysBody = 1 << 20

// ServeUserKeys mounts GET /user/devices/{userId}, POST /user/keys/query
// and POST /user/keys/claim. Call it after Register.
func (a *API) ServeUserKeys(k UserKeys) {
	h := func(pattern string, f http.HandlerFunc) { a.router.Handle(pattern, a.Auth(a.throttled(f))) }
	const v1 = "/_matrix/federation/v1"
	h("GET "+v1+"/user/devices/{userId}", func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, func() (json.RawMessage, error) { return k.UserDevices(r.Context(), r.PathValue("userId")) })
	})
	h("POST "+v1+"/user/keys/query", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DeviceKeys map[string][]string `json:"device_keys"`
		}
		if err := httpapi.ReadJSON(r, maxUserKeysBody, &body); err != nil {
			writeErr(w, err)
			return
		}
		if body.DeviceKeys == nil {
			writeErr(w, httpapi.MissingParam("device_keys is required"))
			return
		}
		writeRaw(w, func() (json.RawMessage, error) { return k.FederationQuery(r.Context(), body.DeviceKeys) })
	})
	h("POST "+v1+"/user/keys/claim", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		}
		if err := httpapi.ReadJSON(r, maxUserKeysBody, &body); err != nil {
			writeErr(w, err)
			return
		}
		if body.OneTimeKeys == nil {
			writeErr(w, httpapi.MissingParam("one_time_keys is required"))
			return
		}
		writeRaw(w, func() (json.RawMessage, error) { return k.FederationClaim(r.Context(), body.OneTimeKeys) })
	})
}

// writeRaw writes f's body, or its error.
func writeRaw(w http.ResponseWriter, f func() (json.RawMessage, error)) {
	body, err := f()
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}
