package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
)

// A user's account data and pushers, as Synapse's user admin API shows
// them (docs/admin_api/user_admin_api.md, "Account Data" and "List all
// pushers"): 400 for another server's user, 404 for an unknown one.

// accountData is GET /_synapse/admin/v1/users/{userId}/accountdata.
func (a *API) accountData(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only look up local users")
	if !ok {
		return
	}
	data, err := a.Admin.AccountData(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"account_data": data})
}

// pushers is GET /_synapse/admin/v1/users/{userId}/pushers.
func (a *API) pushers(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID, ok := a.localUser(w, r, "Can only look up local users")
	if !ok {
		return
	}
	ps, err := a.Admin.Pushers(r.Context(), userID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"pushers": ps, "total": len(ps)})
}
