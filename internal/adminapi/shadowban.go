package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
)

// Synapse's "Controlling whether a user is shadow-banned"
// (user_admin_api.md): POST bans, DELETE lifts the ban, both answer {};
// only users of this server can be shadow-banned (400 otherwise).

// shadowBan is POST /_synapse/admin/v1/users/{userId}/shadow_ban.
func (a *API) shadowBan(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	a.setShadowBan(w, r, true)
}

// unShadowBan is DELETE /_synapse/admin/v1/users/{userId}/shadow_ban.
func (a *API) unShadowBan(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	a.setShadowBan(w, r, false)
}

func (a *API) setShadowBan(w http.ResponseWriter, r *http.Request, banned bool) {
	userID, ok := a.localUser(w, r, "Only local users can be shadow-banned")
	if !ok {
		return
	}
	if err := a.Admin.SetShadowBanned(r.Context(), userID, banned); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}
