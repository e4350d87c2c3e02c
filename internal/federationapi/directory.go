package federationapi

import (
	"net/http"
	"strconv"

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
	if r.Method == http.MethodPost {
		var body struct {
			Limit  int    `json:"limit"`
			Since  string `json:"since"`
			Filter struct {
				GenericSearchTerm string `json:"generic_search_term"`
			} `json:"filter"`
		}
		if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
			writeErr(w, err)
			return
		}
		q = rooms.DirectoryQuery{Limit: body.Limit, Since: body.Since, Term: body.Filter.GenericSearchTerm}
	} else {
		v := r.URL.Query()
		if l := v.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil {
				writeErr(w, merr.InvalidParam("limit must be an integer"))
				return
			}
			q.Limit = n
		}
		q.Since = v.Get("since")
	}
	page, err := a.Engine.PublicRooms(r.Context(), q)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}
