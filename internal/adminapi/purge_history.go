package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's Purge History API (purge_history_api.md): the point is the
// event in the path, else purge_up_to_event_id, else purge_up_to_ts (ms);
// delete_local_events (default false) also removes what this server's
// users sent. It answers {"purge_id"} at once; purge_history_status tells
// "active", "complete" or "failed" with "error".

// purgeHistory is POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}].
func (a *API) purgeHistory(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	var body struct {
		DeleteLocalEvents *bool           `json:"delete_local_events"`
		UpToEventID       *string         `json:"purge_up_to_event_id"`
		UpToTS            json.RawMessage `json:"purge_up_to_ts"`
	}
	if err := httpapi.ReadOptionalJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var req admin.PurgeHistoryRequest
	if body.DeleteLocalEvents != nil {
		req.DeleteLocalEvents = *body.DeleteLocalEvents
	}
	switch {
	case r.PathValue("eventId") != "":
		req.Point.EventID = r.PathValue("eventId")
	case body.UpToEventID != nil && *body.UpToEventID != "":
		req.Point.EventID = *body.UpToEventID
	case len(body.UpToTS) > 0 && string(body.UpToTS) != "null":
		if err := json.Unmarshal(body.UpToTS, &req.Point.TS); err != nil {
			httpapi.WriteError(w, merr.InvalidParam("purge_up_to_ts must be an int"))
			return
		}
	default:
		httpapi.WriteError(w, merr.BadJSON("must specify purge_up_to_event_id or purge_up_to_ts"))
		return
	}
	id, err := a.Admin.StartPurgeHistory(r.Context(), r.PathValue("roomId"), req, a.log())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"purge_id": id})
}

// purgeHistoryStatus is GET /_synapse/admin/v1/purge_history_status/{purgeId}.
func (a *API) purgeHistoryStatus(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	id := r.PathValue("purgeId")
	st, err := a.Admin.PurgeHistoryStatus(r.Context(), id)
	if errors.Is(err, merr.ErrNotFound) {
		err = merr.NotFound("purge id '" + id + "' not found")
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, st)
}
