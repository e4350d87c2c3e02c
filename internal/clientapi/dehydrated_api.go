package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// dehydratedPrefix is MSC3814's unstable prefix. The endpoints are served
// only when experimental_features.msc3814_enabled is on; otherwise they are
// unknown (404 M_UNRECOGNIZED, which matrix-js-sdk reads as "not
// supported"), as in Synapse.
const dehydratedPrefix = "/_matrix/client/unstable/org.matrix.msc3814.v1"

// registerDehydrated adds the dehydrated device endpoints (MSC3814).
// Guests may not use them (Synapse's default for its endpoints).
func (a *E2EEAPI) registerDehydrated(rt *httpapi.Router) {
	auth := func(method, path string, h httpapi.AuthHandler) {
		rt.Handle(method+" "+dehydratedPrefix+path, httpapi.RequireAuth(a.Auth, h))
	}
	auth("PUT", "/dehydrated_device", a.putDehydratedDevice)
	auth("GET", "/dehydrated_device", a.getDehydratedDevice)
	auth("DELETE", "/dehydrated_device", a.deleteDehydratedDevice)
	auth("POST", "/dehydrated_device/{deviceId}/events", a.dehydratedDeviceEvents)
}

type putDehydratedBody struct {
	DeviceID                 string                     `json:"device_id"`
	DeviceData               json.RawMessage            `json:"device_data"`
	InitialDeviceDisplayName string                     `json:"initial_device_display_name"`
	DeviceKeys               json.RawMessage            `json:"device_keys"`
	OneTimeKeys              map[string]json.RawMessage `json:"one_time_keys"`
	FallbackKeys             map[string]json.RawMessage `json:"fallback_keys"`
}

// putDehydratedDevice is PUT .../dehydrated_device: the device, its data
// and its keys in one request.
func (a *E2EEAPI) putDehydratedDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body putDehydratedBody
	if err := httpapi.ReadJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, err := a.Service.PutDehydratedDevice(r.Context(), e2ee.DehydratedDeviceRequest{UserID: s.UserID, DeviceID: body.DeviceID,
		DeviceData: body.DeviceData, DisplayName: body.InitialDeviceDisplayName, DeviceKeys: body.DeviceKeys,
		OneTimeKeys: body.OneTimeKeys, FallbackKeys: body.FallbackKeys})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"device_id": id})
}

// getDehydratedDevice is GET .../dehydrated_device.
func (a *E2EEAPI) getDehydratedDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	d, err := a.Service.DehydratedDevice(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"device_id": d.DeviceID, "device_data": d.Data})
}

// deleteDehydratedDevice is DELETE .../dehydrated_device.
func (a *E2EEAPI) deleteDehydratedDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	id, err := a.Service.DeleteDehydratedDevice(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"device_id": id})
}

// dehydratedDeviceEvents is POST .../dehydrated_device/{deviceId}/events,
// with next_batch in the body and Synapse's limit query parameter.
func (a *E2EEAPI) dehydratedDeviceEvents(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		NextBatch string `json:"next_batch"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxKeysBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit, err := intParam(r.URL.Query().Get("limit"), "limit", 1, e2ee.DehydratedEventsLimit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	page, err := a.Service.DehydratedDeviceEvents(r.Context(), s.UserID, r.PathValue("deviceId"), body.NextBatch, limit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}
