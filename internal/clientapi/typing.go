package clientapi

import (
	"net/http"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// putTyping is PUT /rooms/{roomId}/typing/{userId}.
func (a *EphemeralAPI) putTyping(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot set another user's typing state"))
		return
	}
	var body struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Typing == nil {
		httpapi.WriteError(w, httpapi.MissingParam("typing is required"))
		return
	}
	var timeout time.Duration
	if body.Timeout != nil {
		if *body.Timeout < 0 {
			httpapi.WriteError(w, httpapi.InvalidParam("timeout must not be negative"))
			return
		}
		// The service caps it; bound it here so the multiplication cannot
		// overflow.
		timeout = time.Duration(min(*body.Timeout, int64(time.Hour/time.Millisecond))) * time.Millisecond
	}
	if s.ShadowBanned {
		// Accepted and shown to no one (Synapse; see shadowban.go).
		writeOK(w, emptyObject)
		return
	}
	if err := a.Typing.Set(r.Context(), r.PathValue("roomId"), s.UserID, *body.Typing, timeout); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
