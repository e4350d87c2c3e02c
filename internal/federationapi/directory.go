package federationapi

import (
	"context"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// publicRooms serves our public room directory to other servers
// (server-server-api "Public Room Directory") when the operator allows it
// (Synapse's allow_public_rooms_over_federation, off by default);
// otherwise it answers 403 as Synapse does. Rooms whose server ACL denies
// the asking server are left out.
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
	// A server the room's ACL denies does not see it listed. The spec's
	// list of endpoints that MUST apply ACLs has no /publicRooms (it names
	// no room), but its rule above that list is general: "When a remote
	// server makes a request, it MUST be verified to be allowed by the
	// server ACLs" (server-server-api "Server Access Control Lists
	// (ACLs)"). A denied server could join none of these rooms (make_join
	// and make_knock refuse it), so an entry would only show it what the
	// room chose not to share with it.
	origin := a.Origin(r)
	q.Shown = func(ctx context.Context, roomID string) (bool, error) {
		acl, err := a.roomACL(ctx, roomID)
		return acl.Allows(origin), err
	}
	page, err := a.Engine.PublicRooms(r.Context(), q)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}
