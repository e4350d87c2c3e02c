package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// deviceJSON is a client_device object (definitions/client_device.yaml):
// optional fields are left out when unknown.
func deviceJSON(d accounts.Device) map[string]any {
	out := map[string]any{"device_id": d.DeviceID}
	if d.DisplayName != "" {
		out["display_name"] = d.DisplayName
	}
	if d.LastSeenIP != "" {
		out["last_seen_ip"] = d.LastSeenIP
	}
	if d.LastSeenTS != 0 {
		out["last_seen_ts"] = d.LastSeenTS
	}
	return out
}

// listDevices is GET /devices.
func (a *AccountAPI) listDevices(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	devices, err := a.svc.ListDevices(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(devices))
	for i, d := range devices {
		out[i] = deviceJSON(d)
	}
	writeAccountJSON(w, map[string]any{"devices": out})
}

// getDevice is GET /devices/{deviceId}.
func (a *AccountAPI) getDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	d, err := a.svc.GetDevice(r.Context(), s.UserID, r.PathValue("deviceId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, deviceJSON(*d))
}

type putDeviceBody struct {
	DisplayName *string `json:"display_name"`
}

// putDevice is PUT /devices/{deviceId}. An application service may create
// a device of its user this way (device_management.yaml, spec v1.17,
// MSC4190: 201 when created); for anyone else an unknown device is 404.
func (a *AccountAPI) putDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body putDeviceBody
	if err := httpapi.ReadJSON(r, accountMaxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	deviceID := r.PathValue("deviceId")
	if s.AppserviceID != "" {
		name := ""
		if body.DisplayName != nil {
			name = *body.DisplayName
		}
		created, err := a.svc.EnsureAppserviceDevice(r.Context(), s.UserID, deviceID, name)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if created {
			httpapi.WriteJSON(w, http.StatusCreated, map[string]any{})
			return
		}
	}
	var err error
	if body.DisplayName != nil {
		err = a.svc.RenameDevice(r.Context(), s.UserID, deviceID, *body.DisplayName)
	} else {
		// "If not given, the display name is unchanged", but an unknown
		// device is still 404.
		_, err = a.svc.GetDevice(r.Context(), s.UserID, deviceID)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

type deleteDeviceBody struct {
	Auth *authDict `json:"auth"`
}

// deleteDevice is DELETE /devices/{deviceId}, behind UIA because it logs a
// device out (modules/device_management, "Security considerations"),
// except for application services (spec v1.17, MSC4190), which hold no
// password of their users.
func (a *AccountAPI) deleteDevice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body deleteDeviceBody
	raw, err := readUIABody(r, &body, true)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if s.AppserviceID == "" && !a.uiaCheck(w, r, raw, body.Auth, a.passwordFlows(), s.UserID) {
		return
	}
	if err := a.svc.DeleteDevices(r.Context(), s.UserID, []string{r.PathValue("deviceId")}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}

type deleteDevicesBody struct {
	Auth    *authDict `json:"auth"`
	Devices *[]string `json:"devices"`
}

// maxDeleteDevices bounds one bulk deletion.
const maxDeleteDevices = 1000

// deleteDevices is POST /delete_devices.
func (a *AccountAPI) deleteDevices(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body deleteDevicesBody
	raw, err := readUIABody(r, &body, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Devices == nil {
		httpapi.WriteError(w, httpapi.MissingParam("devices is required"))
		return
	}
	if len(*body.Devices) > maxDeleteDevices {
		httpapi.WriteError(w, httpapi.InvalidParam("Too many devices in one request"))
		return
	}
	// Application services skip UIA, as for one device.
	if s.AppserviceID == "" && !a.uiaCheck(w, r, raw, body.Auth, a.passwordFlows(), s.UserID) {
		return
	}
	if err := a.svc.DeleteDevices(r.Context(), s.UserID, *body.Devices); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeAccountJSON(w, map[string]any{})
}
