package adminapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/reports"
	"github.com/myelin-chat/myelin/internal/storage/reportstore"
)

// Reports is what the event reports admin API reads (internal/reports).
type Reports interface {
	EventReports(ctx context.Context, q reportstore.Query) ([]reports.EventReport, int64, error)
	EventReport(ctx context.Context, id int64) (reports.EventReport, error)
	DeleteEventReport(ctx context.Context, id int64) error
}

// registerReports adds Synapse's event reports API.
func (a *API) registerReports(h func(string, httpapi.AuthHandler)) {
	if a.Reports == nil {
		return
	}
	h("GET /_synapse/admin/v1/event_reports", a.listEventReports)
	h("GET /_synapse/admin/v1/event_reports/{reportId}", a.getEventReport)
	h("DELETE /_synapse/admin/v1/event_reports/{reportId}", a.deleteEventReport)
}

// maxReportsPage bounds a page of reports.
const maxReportsPage = 1000

func eventReportJSON(r *reports.EventReport) map[string]any {
	out := map[string]any{
		"id": r.ID, "received_ts": r.ReceivedTS, "room_id": r.RoomID, "event_id": r.EventID,
		"user_id": r.Reporter, "reason": r.Reason, "score": r.Score, "sender": nullable(r.Sender),
		"name": nullable(r.Name), "canonical_alias": nullable(r.CanonicalAlias),
	}
	if r.EventJSON != nil {
		out["event_json"] = r.EventJSON
	}
	return out
}

// listEventReports is GET /_synapse/admin/v1/event_reports: newest first
// unless dir=f, filtered by room_id and the reporter's user_id (both
// substrings, as in Synapse).
func (a *API) listEventReports(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	// Synapse's default direction here is b.
	from, limit, desc, err := pageParams(r, 100, true)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	q := r.URL.Query()
	rs, total, err := a.Reports.EventReports(r.Context(), reportstore.Query{RoomID: q.Get("room_id"), Reporter: q.Get("user_id"),
		Forward: !desc, Offset: from, Limit: min(limit, maxReportsPage)})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(rs))
	for i := range rs {
		out[i] = eventReportJSON(&rs[i])
	}
	resp := map[string]any{"event_reports": out, "total": total}
	if int64(from+len(rs)) < total {
		resp["next_token"] = from + len(rs)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

func reportID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("reportId"), 10, 64)
	if err != nil || id < 0 {
		return 0, merr.InvalidParam("The report_id parameter must be a string representing a positive integer.")
	}
	return id, nil
}

// getEventReport is GET /_synapse/admin/v1/event_reports/{reportId}.
func (a *API) getEventReport(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	id, err := reportID(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	rep, err := a.Reports.EventReport(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, eventReportJSON(&rep))
}

// deleteEventReport is DELETE /_synapse/admin/v1/event_reports/{reportId}.
func (a *API) deleteEventReport(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	id, err := reportID(r)
	if err == nil {
		err = a.Reports.DeleteEventReport(r.Context(), id)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
}
