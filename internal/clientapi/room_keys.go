package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/keybackup"
)

// KeyBackupAPI serves server-side key backups (key_backup.yaml).
type KeyBackupAPI struct {
	Service *keybackup.Service
	Auth    httpapi.TokenResolver
}

const (
	// maxBackupVersionBody bounds a version's body (auth_data and a few
	// short fields).
	maxBackupVersionBody = keybackup.MaxAuthData + 4096
	// maxBackupKeysBody bounds a key upload: clients upload in batches of
	// a few hundred keys of a few hundred bytes each.
	maxBackupKeysBody = 8 << 20
)

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *KeyBackupAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		auth("POST", "/room_keys/version", a.createVersion)
		auth("GET", "/room_keys/version", a.getVersion)
		auth("GET", "/room_keys/version/{version}", a.getVersion)
		auth("PUT", "/room_keys/version/{version}", a.updateVersion)
		auth("DELETE", "/room_keys/version/{version}", a.deleteVersion)
		for _, path := range []string{"/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"} {
			auth("PUT", path, a.putKeys)
			auth("GET", path, a.getKeys)
			auth("DELETE", path, a.deleteKeys)
		}
	}
}

type backupVersionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   string          `json:"version"`
}

// createVersion is POST /room_keys/version.
func (a *KeyBackupAPI) createVersion(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body backupVersionBody
	if err := httpapi.ReadJSON(r, maxBackupVersionBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	version, err := a.Service.CreateVersion(r.Context(), s.UserID, body.Algorithm, body.AuthData)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"version": version})
}

// getVersion is GET /room_keys/version (the current version) and GET
// /room_keys/version/{version}.
func (a *KeyBackupAPI) getVersion(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	v, err := a.Service.Version(r.Context(), s.UserID, r.PathValue("version"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// updateVersion is PUT /room_keys/version/{version}.
func (a *KeyBackupAPI) updateVersion(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body backupVersionBody
	if err := httpapi.ReadJSON(r, maxBackupVersionBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Service.UpdateVersion(r.Context(), s.UserID, r.PathValue("version"), body.Version, body.Algorithm, body.AuthData); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, emptyObject)
}

// deleteVersion is DELETE /room_keys/version/{version}.
func (a *KeyBackupAPI) deleteVersion(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := a.Service.DeleteVersion(r.Context(), s.UserID, r.PathValue("version")); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, emptyObject)
}

// putKeys is PUT /room_keys/keys, /room_keys/keys/{roomId} and
// /room_keys/keys/{roomId}/{sessionId}: the body is the rooms, one room's
// sessions, or one key.
func (a *KeyBackupAPI) putKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	roomID, sessionID := r.PathValue("roomId"), r.PathValue("sessionId")
	var rooms map[string]keybackup.RoomSessions
	var err error
	switch {
	case sessionID != "":
		var key keybackup.KeyData
		err = httpapi.ReadJSON(r, maxBackupKeysBody, &key)
		rooms = map[string]keybackup.RoomSessions{roomID: {Sessions: map[string]keybackup.KeyData{sessionID: key}}}
	case roomID != "":
		var room keybackup.RoomSessions
		if err = httpapi.ReadJSON(r, maxBackupKeysBody, &room); err == nil && room.Sessions == nil {
			err = httpapi.MissingParam("sessions is required")
		}
		rooms = map[string]keybackup.RoomSessions{roomID: room}
	default:
		var body keybackup.Rooms
		if err = httpapi.ReadJSON(r, maxBackupKeysBody, &body); err == nil && body.Rooms == nil {
			err = httpapi.MissingParam("rooms is required")
		}
		rooms = body.Rooms
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.Service.PutKeys(r.Context(), s.UserID, r.URL.Query().Get("version"), rooms)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}

// getKeys is GET /room_keys/keys and its room and session forms. A room
// without keys is {"sessions": {}}; a missing session is 404
// (key_backup.yaml).
func (a *KeyBackupAPI) getKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	roomID, sessionID := r.PathValue("roomId"), r.PathValue("sessionId")
	res, err := a.Service.Keys(r.Context(), s.UserID, r.URL.Query().Get("version"), roomID, sessionID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	switch {
	case sessionID != "":
		key, ok := res.Rooms[roomID].Sessions[sessionID]
		if !ok {
			httpapi.WriteError(w, httpapi.NotFound("No room_keys found"))
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, key)
	case roomID != "":
		room, ok := res.Rooms[roomID]
		if !ok {
			room = keybackup.RoomSessions{Sessions: map[string]keybackup.KeyData{}}
		}
		httpapi.WriteJSON(w, http.StatusOK, room)
	default:
		httpapi.WriteJSON(w, http.StatusOK, res)
	}
}

// deleteKeys is DELETE /room_keys/keys and its room and session forms.
func (a *KeyBackupAPI) deleteKeys(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	res, err := a.Service.DeleteKeys(r.Context(), s.UserID, r.URL.Query().Get("version"), r.PathValue("roomId"), r.PathValue("sessionId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}
