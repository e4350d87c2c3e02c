package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/users"
)

// The client-server admin endpoints of account moderation (admin.yaml,
// spec v1.18, MSC4323): GET and PUT /_matrix/client/v1/admin/suspend/{userId}
// with {"suspended": bool}, and /admin/lock/{userId} with {"locked": bool}.
// Every server admin may use them, so the m.account_moderation capability
// says so to admins (capabilities.go).

// moderationEndpoint is one of the two: its path segment, body key and
// what it sets.
type moderationEndpoint struct {
	path, key string
	what      users.Moderation
}

var moderationEndpoints = []moderationEndpoint{
	{"suspend", "suspended", users.ModerateSuspend},
	{"lock", "locked", users.ModerateLock},
}

func (a *AccountAPI) registerModeration(rt *httpapi.Router) {
	for _, e := range moderationEndpoints {
		p := "/_matrix/client/v1/admin/" + e.path + "/{userId}"
		rt.Handle("GET "+p, httpapi.RequireAuth(a, func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
			a.moderation(w, r, s, e, false)
		}))
		rt.Handle("PUT "+p, httpapi.RequireAuth(a, func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
			a.moderation(w, r, s, e, true)
		}))
	}
}

// moderation answers GET (change false) or PUT. The requester is checked
// to be an admin before the target is looked up, so that the endpoint
// tells a non-admin nothing about which accounts exist (admin.yaml).
func (a *AccountAPI) moderation(w http.ResponseWriter, r *http.Request, s *httpapi.Session, e moderationEndpoint, change bool) {
	if !s.IsAdmin {
		httpapi.WriteError(w, merr.Forbidden("Requesting user is not a server administrator."))
		return
	}
	var on bool
	if change {
		var body map[string]json.RawMessage
		if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		raw, ok := body[e.key]
		if !ok {
			httpapi.WriteError(w, httpapi.MissingParam("'"+e.key+"' is required"))
			return
		}
		if string(raw) == "null" || json.Unmarshal(raw, &on) != nil {
			httpapi.WriteError(w, httpapi.BadJSON("'"+e.key+"' must be a boolean"))
			return
		}
	}
	userID := r.PathValue("userId")
	acc, err := a.svc.ModerationTarget(r.Context(), s.UserID, userID, change)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if change {
		if err := a.svc.Moderate(r.Context(), userID, e.what, on); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeAccountJSON(w, map[string]bool{e.key: on})
		return
	}
	state := acc.Suspended
	if e.what == users.ModerateLock {
		state = acc.Locked
	}
	writeAccountJSON(w, map[string]bool{e.key: state})
}
