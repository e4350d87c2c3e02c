package clientapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/roomversion"
	"github.com/myelin-chat/myelin/internal/visibility"
)

func (a *RoomAPI) localAlias(r *http.Request) (string, error) {
	alias := r.PathValue("roomAlias")
	parsed, err := ids.ParseRoomAlias(alias)
	if err != nil {
		return "", httpapi.InvalidParam("invalid room alias")
	}
	if string(parsed.Server) != a.Engine.ServerName() {
		return "", httpapi.InvalidParam("room alias is not on this server")
	}
	return alias, nil
}

// lookupAlias reads a local alias. An unknown alias of an appservice's
// namespace is asked of the appservice, which may create it before it
// answers, and read again (application-service-api.md, "Querying").
func (a *RoomAPI) lookupAlias(ctx context.Context, alias string) (roomID, creator string, err error) {
	roomID, creator, err = a.Engine.Store().Alias(ctx, alias)
	if errors.Is(err, merr.ErrNotFound) && strings.HasSuffix(alias, ":"+a.Engine.ServerName()) && a.AppserviceQueries.AliasExists(ctx, alias) {
		return a.Engine.Store().Alias(ctx, alias)
	}
	return roomID, creator, err
}

// putAlias is PUT /directory/room/{roomAlias}: any member of the room may
// create a local alias (Synapse requires membership; the spec leaves it to
// the server). Application services' exclusive alias namespaces are
// theirs alone, and an appservice may alias any room within its own
// namespaces without being in it, as in Synapse (M_EXCLUSIVE elsewhere).
func (a *RoomAPI) putAlias(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	alias, err := a.localAlias(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body struct {
		RoomID string `json:"room_id"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !ids.ValidRoomID(body.RoomID) {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid room_id"))
		return
	}
	if err := a.Appservices.CheckAlias(alias, s.AppserviceID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if acc, err := a.readAccess(r.Context(), body.RoomID, s.UserID); s.AppserviceID == "" && (err != nil || !acc.Joined) {
		httpapi.WriteError(w, merr.Forbidden("you must be in the room to give it an alias"))
		return
	}
	if err := a.Engine.Store().CreateAlias(r.Context(), alias, body.RoomID, s.UserID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// getAlias is GET /directory/room/{roomAlias} (no authentication needed).
func (a *RoomAPI) getAlias(w http.ResponseWriter, r *http.Request) {
	alias := r.PathValue("roomAlias")
	parsed, err := ids.ParseRoomAlias(alias)
	if err != nil {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid room alias"))
		return
	}
	// Another server's alias: ask it (server-server-api /query/directory).
	if string(parsed.Server) != a.Engine.ServerName() && a.Fed != nil {
		roomID, servers, err := a.Fed.ResolveAlias(r.Context(), alias, string(parsed.Server))
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeOK(w, map[string]any{"room_id": roomID, "servers": servers})
		return
	}
	roomID, _, err := a.lookupAlias(r.Context(), alias)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"room_id": roomID, "servers": []string{a.Engine.ServerName()}})
}

// deleteAlias is DELETE /directory/room/{roomAlias}: the alias's creator,
// a server admin, or a room member allowed to send m.room.canonical_alias.
func (a *RoomAPI) deleteAlias(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	alias, err := a.localAlias(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ctx := r.Context()
	if err := a.Appservices.CheckAlias(alias, s.AppserviceID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID, creator, err := a.Engine.Store().Alias(ctx, alias)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// An appservice manages every alias of its namespaces.
	allowed := creator == s.UserID || s.IsAdmin || s.AppserviceID != ""
	if !allowed {
		if view, err := a.Engine.CurrentView(ctx, roomID); err == nil {
			if pl, err := eventauth.PowerLevelsFrom(view, roomVersionOf(a, r, roomID)); err == nil {
				allowed = visibility.Membership(view, s.UserID) == event.Join &&
					pl.UserLevel(s.UserID) >= pl.EventLevel(event.TypeCanonicalAlias, true)
			}
		}
	}
	if !allowed {
		httpapi.WriteError(w, merr.Forbidden("you may not remove this alias"))
		return
	}
	if err := a.Engine.Store().DeleteAlias(ctx, alias); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// roomAliases is GET /rooms/{roomId}/aliases: for members, or anyone when
// the history is world_readable (client-server-api, "Room aliases"). The
// spec is silent on server admins; Synapse lets them read any room's list,
// and its admin tools (synadm's "user membership --aliases", run by
// "user deactivate") rely on that.
func (a *RoomAPI) roomAliases(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	roomID := r.PathValue("roomId")
	if !s.IsAdmin {
		if _, err := a.readAccess(r.Context(), roomID, s.UserID); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	aliases, err := a.Engine.Store().AliasesForRoom(r.Context(), roomID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if aliases == nil {
		aliases = []string{}
	}
	writeOK(w, map[string]any{"aliases": aliases})
}

// getVisibility is GET /directory/list/room/{roomId}.
func (a *RoomAPI) getVisibility(w http.ResponseWriter, r *http.Request) {
	room, err := a.Engine.Store().Room(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	v := "private"
	if room.IsPublic {
		v = "public"
	}
	writeOK(w, map[string]string{"visibility": v})
}

// putVisibility is PUT /directory/list/room/{roomId}: members who may change
// the room's state (state_default power), or server admins.
func (a *RoomAPI) putVisibility(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	public, err := readVisibility(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	room, err := a.Engine.Store().Room(ctx, roomID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !s.IsAdmin {
		view, err := a.Engine.CurrentView(ctx, roomID)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		pl, err := eventauth.PowerLevelsFrom(view, room.Version)
		if err != nil || visibility.Membership(view, s.UserID) != event.Join || pl.UserLevel(s.UserID) < pl.StateDefault {
			httpapi.WriteError(w, merr.Forbidden("you may not change this room's directory visibility"))
			return
		}
	}
	if err := a.Engine.Store().SetPublic(ctx, roomID, public); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// readVisibility reads a directory visibility body: true for "public".
func readVisibility(r *http.Request) (bool, error) {
	var body struct {
		Visibility string `json:"visibility"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		return false, err
	}
	if body.Visibility != "public" && body.Visibility != "private" {
		return false, httpapi.InvalidParam("visibility must be public or private")
	}
	return body.Visibility == "public", nil
}

func roomVersionOf(a *RoomAPI, r *http.Request, roomID string) *roomversion.Version {
	room, err := a.Engine.Store().Room(r.Context(), roomID)
	if err != nil {
		return nil
	}
	return room.Version
}

// publicRoomsGet is GET /publicRooms. Besides limit and since it takes the
// federation GET's include_all_networks and third_party_instance_id, so
// that a network's list can be read without a body too.
func (a *RoomAPI) publicRoomsGet(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if s == nil && !a.AllowPublicRoomsWithoutAuth {
		httpapi.WriteError(w, merr.MissingToken("missing access token"))
		return
	}
	q, err := rooms.DirectoryQueryOf(r.URL.Query())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.publicRooms(w, r, r.URL.Query().Get("server"), q)
}

// publicRoomsPost is POST /publicRooms: the filter (generic_search_term,
// room_types) and the network (include_all_networks,
// third_party_instance_id) in the body, the server in the query string
// (the body's "server" is Synapse's older place for it, still read).
func (a *RoomAPI) publicRoomsPost(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		rooms.DirectoryRequest
		Server string `json:"server"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	q, err := body.Query()
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	server := r.URL.Query().Get("server")
	if server == "" {
		server = body.Server
	}
	a.publicRooms(w, r, server, q)
}

// putNetworkVisibility is PUT /directory/list/appservice/{networkId}/{roomId}
// (application-service-api.md, "Published room directories"): an
// application service publishes a room in, or removes it from, its own
// list for one network, which /publicRooms shows to clients that ask for
// the network (or all networks). Only an as_token may; Synapse also
// serves DELETE, which removes the room as "private" does.
func (a *RoomAPI) putNetworkVisibility(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if s.AppserviceID == "" {
		httpapi.WriteError(w, merr.Forbidden("only application services may edit their networks' room directories"))
		return
	}
	public := false
	if r.Method == http.MethodPut {
		var err error
		if public, err = readVisibility(r); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	network, roomID := r.PathValue("networkId"), r.PathValue("roomId")
	if network == "" || len(network) > maxNetworkID {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid network ID"))
		return
	}
	if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Engine.Store().SetPublicInNetwork(r.Context(), s.AppserviceID, network, roomID, public); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// maxNetworkID bounds the network IDs an appservice may publish under.
const maxNetworkID = 255

// publicRooms answers a directory query: ours from the room engine,
// another server's over federation (the request's "server").
func (a *RoomAPI) publicRooms(w http.ResponseWriter, r *http.Request, server string, q rooms.DirectoryQuery) {
	var page *rooms.DirectoryPage
	var err error
	switch {
	case server == "" || server == a.Engine.ServerName():
		page, err = a.Engine.PublicRooms(r.Context(), q)
	case a.Fed == nil:
		err = merr.NotFound("this server does not federate")
	default:
		if _, _, perr := ids.ParseServerName(server); perr != nil {
			err = httpapi.InvalidParam("server is not a valid server name")
			break
		}
		page, err = a.Fed.PublicRooms(r.Context(), server, q)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, page)
}
