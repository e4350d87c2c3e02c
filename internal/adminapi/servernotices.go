package adminapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/servernotices"
)

// Synapse's Server Notices API (server_notices.md): POST
// send_server_notice sends a notice to a local user; PUT with a
// transaction ID sends it once however often it is retried. The answer
// is {"event_id"}.

// sendServerNotice is POST /_synapse/admin/v1/send_server_notice and PUT
// /_synapse/admin/v1/send_server_notice/{txnId}.
func (a *API) sendServerNotice(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if a.Notices == nil {
		httpapi.WriteError(w, merr.BadRequest(merr.CodeUnknown, "Server notices are not enabled on this server"))
		return
	}
	var body struct {
		UserID   *string         `json:"user_id"`
		Content  json.RawMessage `json:"content"`
		Type     *string         `json:"type"`
		StateKey *string         `json:"state_key"`
	}
	if err := httpapi.ReadJSON(r, maxBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.UserID == nil || len(body.Content) == 0 {
		httpapi.WriteError(w, merr.MissingParam("Missing params: user_id and content are required"))
		return
	}
	if err := httpapi.CheckJSONObject(body.Content); err != nil {
		httpapi.WriteError(w, merr.BadJSON("content must be a JSON object"))
		return
	}
	if err := a.Users.CheckLocalUser(*body.UserID, "Server notices can only be sent to local users"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	n := servernotices.Notice{UserID: *body.UserID, Content: body.Content, StateKey: body.StateKey,
		TxnID: r.PathValue("txnId"), Requester: s.UserID}
	if body.Type != nil {
		if *body.Type == "" || len(*body.Type) > 255 {
			httpapi.WriteError(w, merr.InvalidParam("type must be an event type"))
			return
		}
		n.Type = *body.Type
	}
	id, err := a.Notices.Send(r.Context(), n)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"event_id": id})
}
