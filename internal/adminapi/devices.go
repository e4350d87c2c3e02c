package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// maxDeleteDevices bounds one delete_devices request.
const maxDeleteDevices = 1000

func deviceJSON(d *accounts.Device) map[string]any {
	return map[string]any{
		"device_id":            d.DeviceID,
		"display_name":         nullable(d.DisplayName),
		"last_seen_ip":         nullable(d.LastSeenIP),
		"last_seen_ts":         lastSeen(d.LastSeenTS),
		"last_seen_user_agent": nullable(d.LastSeenUserAgent),
		"user_id":              d.UserID,
	}
}

// deviceOwner reads {userId}, which must be an existing local user.
func (a *API) deviceOwner(w http.ResponseWriter, r *http.Request) (string, bool) {
	userID, ok := a.localUser(w, r, "Can only lookup local users")
	if !ok {
		return "", false
	}
	if _, err := a.Users.GetUserForAdmin(r.Context(), userID); err != nil {
		httpapi.WriteError(w, err)
		return "", false
	}
	return userID, true
}

// listDevices is GET /_synapse/admin/v2/users/{userId}/devices.
func (a *API) listDevices(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.deviceOwner(w, r)
	if !ok {
		return
	}
	ds, err := a.Users.ListDevices(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(ds))
	for i := range ds {
		out[i] = deviceJSON(&ds[i])
	}
	writeOK(w, map[string]any{"devices": out, "total": len(out)})
}

// getDevice is GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}.
func (a *API) getDevice(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.deviceOwner(w, r)
	if !ok {
		return
	}
	d, err := a.Users.GetDevice(r.Context(), userID, r.PathValue("deviceId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, deviceJSON(d))
}

// putDevice is PUT /_synapse/admin/v2/users/{userId}/devices/{deviceId}:
// renames a device.
func (a *API) putDevice(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.deviceOwner(w, r)
	if !ok {
		return
	}
	var body struct {
		DisplayName *string `json:"display_name"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	deviceID := r.PathValue("deviceId")
	var err error
	if body.DisplayName != nil {
		err = a.Users.RenameDevice(r.Context(), userID, deviceID, *body.DisplayName)
	} else {
		_, err = a.Users.GetDevice(r.Context(), userID, deviceID)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}

// deleteDevice is DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId};
// an unknown device is not an error, as in Synapse.
func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.deviceOwner(w, r)
	if !ok {
		return
	}
	if err := a.Users.DeleteDevices(r.Context(), userID, []string{r.PathValue("deviceId")}); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}

// deleteDevices is POST /_synapse/admin/v2/users/{userId}/delete_devices.
func (a *API) deleteDevices(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.deviceOwner(w, r)
	if !ok {
		return
	}
	var body struct {
		Devices *[]string `json:"devices"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Devices == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing param: devices"))
		return
	}
	if len(*body.Devices) > maxDeleteDevices {
		httpapi.WriteError(w, merr.InvalidParam("Too many devices in one request"))
		return
	}
	if err := a.Users.DeleteDevices(r.Context(), userID, *body.Devices); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}
