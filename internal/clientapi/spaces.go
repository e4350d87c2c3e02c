package clientapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/spaces"
)

// SpacesAPI serves the space hierarchy and room summaries.
type SpacesAPI struct {
	Auth   httpapi.TokenResolver
	Spaces *spaces.Service
	// Aliases resolves this server's aliases; Fed, when set, other
	// servers'.
	Aliases AliasStore
	Fed     Federation
}

// AliasStore resolves this server's room aliases.
type AliasStore interface {
	Alias(ctx context.Context, alias string) (roomID, creator string, err error)
}

// maxVia bounds the via parameters of a request.
const maxVia = 20

// Register adds the endpoints (v1 only, as the spec defines them).
func (a *SpacesAPI) Register(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", httpapi.RequireAuth(a.Auth, a.hierarchy))
	// The spec lets servers answer unauthenticated requests for the rooms
	// anyone could see; the service decides which.
	rt.Handle("GET /_matrix/client/v1/room_summary/{roomIdOrAlias}", httpapi.OptionalAuth(a.Auth, a.roomSummary))
}

// roomSummary is GET /_matrix/client/v1/room_summary/{roomIdOrAlias}
// (client-server-api, v1.15).
func (a *SpacesAPI) roomSummary(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	idOrAlias := r.PathValue("roomIdOrAlias")
	via := r.URL.Query()["via"]
	if len(via) > maxVia {
		httpapi.WriteError(w, httpapi.InvalidParam("too many via servers"))
		return
	}
	for _, v := range via {
		if !ids.ValidServerName(v) {
			httpapi.WriteError(w, httpapi.InvalidParam("via must hold server names"))
			return
		}
	}
	var roomID string
	switch {
	case strings.HasPrefix(idOrAlias, "!"):
		if !ids.ValidRoomID(idOrAlias) {
			httpapi.WriteError(w, httpapi.InvalidParam("invalid room ID"))
			return
		}
		roomID = idOrAlias
	case strings.HasPrefix(idOrAlias, "#"):
		alias, err := ids.ParseRoomAlias(idOrAlias)
		if err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("invalid room alias"))
			return
		}
		if string(alias.Server) == a.Spaces.ServerName() || a.Fed == nil {
			if roomID, _, err = a.Aliases.Alias(ctx, idOrAlias); err != nil {
				httpapi.WriteError(w, merr.NotFound("room alias not found"))
				return
			}
		} else {
			var servers []string
			if roomID, servers, err = a.Fed.ResolveAlias(ctx, idOrAlias, string(alias.Server)); err != nil {
				httpapi.WriteError(w, merr.NotFound("room alias not found"))
				return
			}
			via = append(via, servers...)
		}
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("expected a room ID or alias"))
		return
	}
	user := ""
	if s != nil {
		user = s.UserID
	}
	sum, err := a.Spaces.RoomSummary(ctx, user, roomID, via)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, sum)
}

// hierarchy is GET /_matrix/client/v1/rooms/{roomId}/hierarchy
// (client-server-api "Spaces").
func (a *SpacesAPI) hierarchy(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	var query spaces.Query
	var err error
	if query.SuggestedOnly, err = boolParam(q.Get("suggested_only"), "suggested_only"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if query.Limit, err = intParam(q.Get("limit"), "limit", 1, spaces.DefaultLimit); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if query.MaxDepth, err = intParam(q.Get("max_depth"), "max_depth", 0, spaces.DefaultMaxDepth); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	query.Limit = min(query.Limit, spaces.MaxLimit)
	query.MaxDepth = min(query.MaxDepth, spaces.MaxMaxDepth)
	query.From = q.Get("from")
	page, err := a.Spaces.Hierarchy(r.Context(), s.UserID, r.PathValue("roomId"), query)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, page)
}

// boolParam reads a boolean query parameter; absent is false.
func boolParam(v, name string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, httpapi.InvalidParam(name + " must be true or false")
}

// intParam reads an integer query parameter of at least least; absent is def.
func intParam(v, name string, least, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		return 0, httpapi.InvalidParam(name + " must be an integer of at least " + strconv.Itoa(least))
	}
	return n, nil
}
