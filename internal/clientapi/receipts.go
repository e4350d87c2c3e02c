package clientapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
)

// readOptionalObject reads a small JSON object body into v; an empty body
// counts as {} (clients have sent receipts without one).
func readOptionalObject(r *http.Request, v any) error {
	body, err := httpapi.ReadBody(r, maxSmallBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return httpapi.DecodeJSON(body, v)
}

// postReceipt is POST /rooms/{roomId}/receipt/{receiptType}/{eventId}.
func (a *EphemeralAPI) postReceipt(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		ThreadID json.RawMessage `json:"thread_id"`
	}
	if err := readOptionalObject(r, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var thread *string
	if len(body.ThreadID) > 0 {
		var t string
		if err := json.Unmarshal(body.ThreadID, &t); err != nil || t == "" {
			httpapi.WriteError(w, httpapi.InvalidParam("thread_id field must be a non-empty string"))
			return
		}
		thread = &t
	}
	err := a.Receipts.Post(r.Context(), r.PathValue("roomId"), s.UserID, r.PathValue("receiptType"), r.PathValue("eventId"), thread)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

// postReadMarkers is POST /rooms/{roomId}/read_markers.
func (a *EphemeralAPI) postReadMarkers(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		FullyRead   string `json:"m.fully_read"`
		Read        string `json:"m.read"`
		ReadPrivate string `json:"m.read.private"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	err := a.Receipts.ReadMarkers(r.Context(), r.PathValue("roomId"), s.UserID, body.FullyRead, body.Read, body.ReadPrivate)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
