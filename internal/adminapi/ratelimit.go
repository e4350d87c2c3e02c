package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Synapse's "Override ratelimiting for users" (user_admin_api.md): GET
// answers {} when the user has no override.

func overrideJSON(o accounts.RatelimitOverride) map[string]int64 {
	return map[string]int64{"messages_per_second": o.MessagesPerSecond, "burst_count": o.BurstCount}
}

// getRatelimit is GET /_synapse/admin/v1/users/{userId}/override_ratelimit.
func (a *API) getRatelimit(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only look up local users")
	if !ok {
		return
	}
	o, found, err := a.Admin.RatelimitOverride(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !found {
		writeOK(w, empty)
		return
	}
	writeOK(w, overrideJSON(o))
}

// nonNegativeInt reads an optional integer of the body as Synapse does:
// absent is 0; anything but a non-negative integer is 400 M_INVALID_PARAM.
func nonNegativeInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
		return 0, merr.InvalidParam(string(raw) + " parameter must be a positive int")
	}
	return n, nil
}

// setRatelimit is POST /_synapse/admin/v1/users/{userId}/override_ratelimit.
func (a *API) setRatelimit(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Only local users can be ratelimited")
	if !ok {
		return
	}
	var body struct {
		MessagesPerSecond json.RawMessage `json:"messages_per_second"`
		BurstCount        json.RawMessage `json:"burst_count"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var o accounts.RatelimitOverride
	var err error
	if o.MessagesPerSecond, err = nonNegativeInt(body.MessagesPerSecond); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if o.BurstCount, err = nonNegativeInt(body.BurstCount); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Admin.SetRatelimitOverride(r.Context(), userID, o); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, overrideJSON(o))
}

// deleteRatelimit is DELETE /_synapse/admin/v1/users/{userId}/override_ratelimit.
func (a *API) deleteRatelimit(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Only local users can be ratelimited")
	if !ok {
		return
	}
	if err := a.Admin.DeleteRatelimitOverride(r.Context(), userID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}
