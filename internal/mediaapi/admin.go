package mediaapi

import (
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// registerAdmin adds Synapse's admin media API (docs/admin_api/media_admin_api
// and user_admin_api "List media uploaded by a user"), for server admins.
func (a *API) registerAdmin(rt *httpapi.Router) {
	admin := func(h httpapi.AuthHandler) http.Handler {
		return httpapi.RequireAuth(a.Auth, func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
			if !s.IsAdmin {
				httpapi.WriteError(w, httpapi.Forbidden("You are not a server admin"))
				return
			}
			h(w, r, s)
		})
	}
	const v1 = "/_synapse/admin/v1"
	rt.Handle("POST "+v1+"/media/quarantine/{serverName}/{mediaId}", admin(a.quarantine(true)))
	rt.Handle("POST "+v1+"/media/unquarantine/{serverName}/{mediaId}", admin(a.quarantine(false)))
	rt.Handle("POST "+v1+"/user/{userId}/media/quarantine", admin(a.quarantineUser))
	rt.Handle("DELETE "+v1+"/media/{serverName}/{mediaId}", admin(a.deleteMedia))
	rt.Handle("POST "+v1+"/media/delete", admin(a.deleteOld))
	rt.Handle("POST "+v1+"/media/{serverName}/delete", admin(a.deleteOld))
	rt.Handle("POST "+v1+"/purge_media_cache", admin(a.purgeCache))
	rt.Handle("GET "+v1+"/users/{userId}/media", admin(a.listUserMedia))
	rt.Handle("GET "+v1+"/room/{roomId}/media", admin(a.listRoomMedia))
	rt.Handle("POST "+v1+"/room/{roomId}/media/quarantine", admin(a.quarantineRoom))
	// Synapse's older path of the same, still served by it.
	rt.Handle("POST "+v1+"/quarantine_media/{roomId}", admin(a.quarantineRoom))
	rt.Handle("DELETE "+v1+"/users/{userId}/media", admin(a.deleteUserMedia))
}

func (a *API) quarantine(on bool) httpapi.AuthHandler {
	return func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
		by := ""
		if on {
			by = s.UserID
		}
		if err := a.Media.Quarantine(r.Context(), r.PathValue("serverName"), r.PathValue("mediaId"), by); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
	}
}

func (a *API) quarantineUser(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	userID := r.PathValue("userId")
	if _, err := ids.ParseUserID(userID); err != nil {
		httpapi.WriteError(w, httpapi.InvalidParam("Not a user ID"))
		return
	}
	n, err := a.Media.QuarantineUser(r.Context(), userID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"num_quarantined": n})
}

// listRoomMedia is Synapse's "List all media in a room".
func (a *API) listRoomMedia(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	local, remote, err := a.Media.RoomMedia(r.Context(), r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if local == nil {
		local = []string{}
	}
	if remote == nil {
		remote = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"local": local, "remote": remote})
}

// quarantineRoom is Synapse's "Quarantining media in a room".
func (a *API) quarantineRoom(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	n, err := a.Media.QuarantineRoom(r.Context(), r.PathValue("roomId"), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"num_quarantined": n})
}

// deleteMedia deletes one local media ID (Synapse: "Delete a specific
// local media").
func (a *API) deleteMedia(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	origin, id := r.PathValue("serverName"), r.PathValue("mediaId")
	if origin != a.Media.ServerName() {
		httpapi.WriteError(w, httpapi.InvalidParam("Can only delete local media"))
		return
	}
	if err := a.Media.Delete(r.Context(), origin, id); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deleted_media": []string{id}, "total": 1})
}

// queryInt reads a non-negative integer query parameter (def when absent).
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httpapi.InvalidParam(name + " must be a non-negative integer")
	}
	return n, nil
}

// beforeTS reads the required before_ts of the bulk deletions.
func beforeTS(r *http.Request) (int64, error) {
	if !r.URL.Query().Has("before_ts") {
		return 0, httpapi.MissingParam("before_ts is required")
	}
	return queryInt(r, "before_ts", 0)
}

// deleteOld is Synapse's "Delete local media by date or size": local
// media last accessed before before_ts (required) and larger than size_gt,
// sparing avatars in use unless keep_profiles=false.
func (a *API) deleteOld(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	if sn := r.PathValue("serverName"); sn != "" && sn != a.Media.ServerName() {
		httpapi.WriteError(w, httpapi.InvalidParam("Can only delete local media"))
		return
	}
	before, err := beforeTS(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	sizeGT, err := queryInt(r, "size_gt", 0)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	keep := a.Media.KeepInUse
	if v := r.URL.Query().Get("keep_profiles"); v != "" {
		k, err := strconv.ParseBool(v)
		if err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("keep_profiles must be true or false"))
			return
		}
		if !k {
			keep = nil
		}
	}
	ids, err := a.Media.DeleteMatching(r.Context(), mediastore.Filter{AccessedBefore: before, SizeGT: sizeGT}, keep, nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deleted_media": ids, "total": len(ids)})
}

// purgeCache is Synapse's "Purge Remote Media API": cached remote media
// last accessed before before_ts.
func (a *API) purgeCache(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	before, err := beforeTS(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ids, err := a.Media.DeleteMatching(r.Context(), mediastore.Filter{Remote: true, AccessedBefore: before}, nil, nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deleted": len(ids)})
}

// listUserMedia is Synapse's "List media uploaded by a user".
func (a *API) listUserMedia(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID := r.PathValue("userId")
	from, err := queryInt(r, "from", 0)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit = min(limit, 1000)
	list, total, err := a.Media.UserMedia(r.Context(), userID, int(from), int(limit))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, m := range list {
		var quarantined any
		if m.QuarantinedBy != "" {
			quarantined = m.QuarantinedBy
		}
		out = append(out, map[string]any{
			"media_id": m.MediaID, "media_type": m.ContentType, "media_length": m.Size,
			"upload_name": m.UploadName, "created_ts": m.CreatedTS, "last_access_ts": m.LastAccessTS,
			"quarantined_by": quarantined, "safe_from_quarantine": false,
		})
	}
	resp := map[string]any{"media": out, "total": total}
	if next := from + int64(len(list)); next < total {
		resp["next_token"] = next
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

// deleteUserMedia is Synapse's "Delete media uploaded by a user": all of
// a local user's media.
func (a *API) deleteUserMedia(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	userID := r.PathValue("userId")
	u, err := ids.ParseUserID(userID)
	if err != nil || string(u.Server) != a.Media.ServerName() {
		httpapi.WriteError(w, httpapi.InvalidParam("Can only delete the media of local users"))
		return
	}
	deleted, err := a.Media.DeleteMatching(r.Context(), mediastore.Filter{UserID: userID}, nil, nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if deleted == nil {
		deleted = []string{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deleted_media": deleted, "total": len(deleted)})
}
