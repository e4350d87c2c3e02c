package clientapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// putPresence is PUT /presence/{userId}/status.
func (a *EphemeralAPI) putPresence(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot set another user's presence"))
		return
	}
	var body struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Presence == nil {
		httpapi.WriteError(w, httpapi.MissingParam("presence is required"))
		return
	}
	if err := a.Presence.Set(r.Context(), s.UserID, *body.Presence, body.StatusMsg); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// getPresence is GET /presence/{userId}/status.
func (a *EphemeralAPI) getPresence(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	c, err := a.Presence.Get(r.Context(), s.UserID, r.PathValue("userId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, c)
}
