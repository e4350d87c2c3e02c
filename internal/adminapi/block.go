package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// putBlock is PUT /_synapse/admin/v1/rooms/{roomId}/block.
func (a *API) putBlock(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		Block *bool `json:"block"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Block == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing param: block"))
		return
	}
	if err := a.Admin.BlockRoom(r.Context(), s.UserID, r.PathValue("roomId"), *body.Block); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]bool{"block": *body.Block})
}

// getBlock is GET /_synapse/admin/v1/rooms/{roomId}/block: user_id names
// the admin who blocked the room.
func (a *API) getBlock(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	blocked, by, err := a.Admin.RoomBlock(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !blocked {
		writeOK(w, map[string]bool{"block": false})
		return
	}
	writeOK(w, map[string]any{"block": true, "user_id": by})
}
