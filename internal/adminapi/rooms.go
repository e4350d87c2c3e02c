package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's rooms admin API (docs/admin_api/rooms.md).

// defaultRoomPage is Synapse's default limit for the room list.
const defaultRoomPage = 100

func roomJSON(r *admin.RoomInfo) map[string]any {
	return map[string]any{
		"room_id":              r.RoomID,
		"name":                 nullable(r.Name),
		"canonical_alias":      nullable(r.CanonicalAlias),
		"joined_members":       r.JoinedMembers,
		"joined_local_members": r.JoinedLocalMembers,
		"version":              r.Version,
		"creator":              r.Creator,
		"encryption":           nullable(r.Encryption),
		"federatable":          r.Federatable,
		"public":               r.Public,
		"join_rules":           nullable(r.JoinRules),
		"guest_access":         nullable(r.GuestAccess),
		"history_visibility":   nullable(r.HistoryVisibility),
		"state_events":         r.StateEvents,
		"room_type":            nullable(r.RoomType),
	}
}

// listRooms is GET /_synapse/admin/v1/rooms.
func (a *API) listRooms(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	q := admin.RoomQuery{SearchTerm: r.URL.Query().Get("search_term"), OrderBy: admin.RoomOrder(r.URL.Query().Get("order_by"))}
	var err error
	if q.Offset, err = queryNonNegative(r, "from", 0); err == nil {
		if q.Limit, err = queryNonNegative(r, "limit", defaultRoomPage); err == nil {
			q.Desc, err = queryDir(r)
		}
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	list, total, err := a.Admin.ListRooms(r.Context(), q)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = roomJSON(&list[i])
	}
	resp := map[string]any{"rooms": out, "offset": q.Offset, "total_rooms": total}
	if next := q.Offset + len(list); len(list) > 0 && next < total {
		resp["next_batch"] = next
	}
	if q.Offset > 0 {
		resp["prev_batch"] = max(q.Offset-q.Limit, 0)
	}
	writeOK(w, resp)
}

// getRoom is GET /_synapse/admin/v1/rooms/{roomId}.
func (a *API) getRoom(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	info, err := a.Admin.Room(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := roomJSON(info)
	out["topic"] = nullable(info.Topic)
	out["avatar"] = nullable(info.Avatar)
	writeOK(w, out)
}

// roomMembers is GET /_synapse/admin/v1/rooms/{roomId}/members.
func (a *API) roomMembers(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	members, err := a.Admin.Members(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"members": members, "total": len(members)})
}

// roomState is GET /_synapse/admin/v1/rooms/{roomId}/state.
func (a *API) roomState(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	evs, err := a.Admin.State(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	now := a.now().UnixMilli()
	out := make([]*clientevent.Event, len(evs))
	for i, e := range evs {
		out[i] = clientevent.Format(e, clientevent.Options{NowMS: now})
	}
	writeOK(w, map[string]any{"state": out})
}

// joinRoom is POST /_synapse/admin/v1/join/{roomIdOrAlias}.
func (a *API) joinRoom(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		UserID *string `json:"user_id"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.UserID == nil {
		httpapi.WriteError(w, merr.MissingParam("Missing param: user_id"))
		return
	}
	if err := a.Users.CheckLocalUser(*body.UserID, "This endpoint can only be used with local users"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if _, err := a.Users.GetUserForAdmin(r.Context(), *body.UserID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID, err := a.Admin.ResolveRoom(r.Context(), r.PathValue("roomIdOrAlias"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Admin.JoinUser(r.Context(), s.UserID, *body.UserID, roomID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"room_id": roomID})
}

// makeRoomAdmin is POST /_synapse/admin/v1/rooms/{roomIdOrAlias}/make_room_admin;
// user_id defaults to the calling admin.
func (a *API) makeRoomAdmin(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		UserID *string `json:"user_id"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	userID := s.UserID
	if body.UserID != nil {
		userID = *body.UserID
	}
	if err := a.Users.CheckLocalUser(userID, "Only local users can be room admins using this API"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if _, err := a.Users.GetUserForAdmin(r.Context(), userID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	roomID, err := a.Admin.ResolveRoom(r.Context(), r.PathValue("roomIdOrAlias"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Admin.MakeRoomAdmin(r.Context(), roomID, userID); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, empty)
}
