package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// suspend is PUT /_synapse/admin/v1/suspend/{userId} (Synapse's
// "Suspend/Unsuspend Account", user_admin_api.md): {"suspend": bool}
// suspends a local account or lifts the suspension (what a suspended user
// may not do: clientapi/suspension.go). Synapse's documentation shows no
// answer; Synapse answers {"user_<user ID>_suspended": bool}, and so does
// Myelin. Another server's user is 400, an unknown one 404.
func (a *API) suspend(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only suspend local users")
	if !ok {
		return
	}
	var body map[string]json.RawMessage
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	raw, ok := body["suspend"]
	if !ok {
		httpapi.WriteError(w, merr.MissingParam("Missing 'suspend'"))
		return
	}
	var suspend bool
	if string(raw) == "null" || json.Unmarshal(raw, &suspend) != nil {
		httpapi.WriteError(w, merr.BadJSON("'suspend' must be a boolean"))
		return
	}
	if err := a.Users.SetSuspended(r.Context(), userID, suspend); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]bool{"user_" + userID + "_suspended": suspend})
}
