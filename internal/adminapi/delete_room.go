package adminapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's Delete Room API (docs/admin_api/rooms.md): version 1 answers
// when the room is gone, version 2 runs in the background and is followed
// through delete_status.

func readDeleteRoom(r *http.Request) (admin.DeleteRoomRequest, error) {
	var body struct {
		NewRoomUserID *string `json:"new_room_user_id"`
		RoomName      *string `json:"room_name"`
		Message       *string `json:"message"`
		Block         *bool   `json:"block"`
		Purge         *bool   `json:"purge"`
		ForcePurge    *bool   `json:"force_purge"`
	}
	// Synapse's tools send {} or nothing at all.
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		return admin.DeleteRoomRequest{}, err
	}
	req := admin.DeleteRoomRequest{Purge: true}
	if body.NewRoomUserID != nil {
		req.NewRoomUserID = *body.NewRoomUserID
	}
	if body.RoomName != nil {
		req.RoomName = *body.RoomName
	}
	if body.Message != nil {
		req.Message = *body.Message
	}
	if body.Block != nil {
		req.Block = *body.Block
	}
	if body.Purge != nil {
		req.Purge = *body.Purge
	}
	if body.ForcePurge != nil {
		req.ForcePurge = *body.ForcePurge
	}
	return req, nil
}

// deleteRoomV1 is DELETE /_synapse/admin/v1/rooms/{roomId}.
func (a *API) deleteRoomV1(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	req, err := readDeleteRoom(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	res, err := a.Admin.DeleteRoom(r.Context(), s.UserID, r.PathValue("roomId"), req, nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, res)
}

// deleteRoomV2 is DELETE /_synapse/admin/v2/rooms/{roomId}.
func (a *API) deleteRoomV2(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	req, err := readDeleteRoom(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, err := a.Admin.StartDeleteRoom(r.Context(), s.UserID, r.PathValue("roomId"), req, a.log())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"delete_id": id})
}

// deleteStatus serves both GET /_synapse/admin/v2/rooms/{roomId}/delete_status
// and GET /_synapse/admin/v2/rooms/delete_status/{deleteId}: the two
// patterns overlap, so one route tells them apart (room IDs start with
// "!").
func (a *API) deleteStatus(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	first, second := r.PathValue("first"), r.PathValue("second")
	switch {
	case first == "delete_status":
		st, err := a.Admin.DeletionStatus(r.Context(), second)
		if errors.Is(err, merr.ErrNotFound) {
			err = merr.NotFound("delete id '" + second + "' not found")
		}
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeOK(w, st)
	case second == "delete_status":
		sts, err := a.Admin.DeletionStatuses(r.Context(), first)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if len(sts) == 0 {
			httpapi.WriteError(w, merr.NotFound("No delete task for room_id '"+first+"' found"))
			return
		}
		writeOK(w, map[string]any{"results": sts})
	default:
		httpapi.WriteError(w, httpapi.Unrecognized(http.StatusNotFound, "Unrecognized request"))
	}
}

func (a *API) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
