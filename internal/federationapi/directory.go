package federationapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// publicRooms serves our public room directory to other servers
// (server-server-api "Public Room Directory") when the operator allows it
// (Synapse's allow_public_rooms_over_federation, off by default);
// otherwise it answers 403 as Synapse does.
func (a *API) publicRooms(w http.ResponseWriter, r *http.Request) {
	if !a.PublicRoomsOverFederation {
		writeErr(w, merr.Forbidden("this server does not publish its room directory over federation"))
		return
	}
	var q rooms.DirectoryQuery
	var err error
	if r.Method == http.MethodPost {
		var body rooms.DirectoryRequest
		if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
			writeErr(w, err)
			return
		}
		q, err = body.Query()
	} else {
		q, err = rooms.DirectoryQueryOf(r.URL.Query())
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	page, err := a.Engine.PublicRooms(r.Context(), q)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}
