package federationapi

import (
	"context"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/spaces"
)

// Hierarchies answers other servers' space hierarchy requests.
type Hierarchies interface {
	FederationHierarchy(ctx context.Context, origin, roomID string, suggestedOnly bool) (*spaces.FedHierarchy, error)
}

// hierarchy is GET /_matrix/federation/v1/hierarchy/{roomId}
// (server-server-api "Spaces").
func (a *API) hierarchy(w http.ResponseWriter, r *http.Request) {
	if a.Spaces == nil {
		writeErr(w, merr.NotFound("unknown room"))
		return
	}
	suggested, err := parseBool(r.URL.Query().Get("suggested_only"))
	if err != nil {
		writeErr(w, err)
		return
	}
	fh, err := a.Spaces.FederationHierarchy(r.Context(), a.Origin(r), r.PathValue("roomId"), suggested)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, fh)
}

// parseBool reads a boolean query parameter: absent is false.
func parseBool(s string) (bool, error) {
	switch s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, merr.InvalidParam("expected true or false")
}
