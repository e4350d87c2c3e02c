package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/ratelimit"
)

// ReportService takes reports (internal/reports).
type ReportService interface {
	ReportEvent(ctx context.Context, reporter, roomID, eventID string, reason *string, score *int64) error
	ReportRoom(ctx context.Context, reporter, roomID string, reason *string) error
	ReportUser(ctx context.Context, reporter, userID string, reason *string) error
}

// ReportAPI serves client-server-api "Reporting Content".
type ReportAPI struct {
	Auth    httpapi.TokenResolver
	Reports ReportService
	Limits  *ratelimit.Limiter
}

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *ReportAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		auth("POST", "/rooms/{roomId}/report/{eventId}", a.reportEvent)
		auth("POST", "/rooms/{roomId}/report", a.reportRoom)
		auth("POST", "/users/{userId}/report", a.reportUser)
	}
}

type reportBody struct {
	Reason *string         `json:"reason"`
	Score  json.RawMessage `json:"score"`
}

// read parses the body and draws on rc_reports for the reporter.
func (a *ReportAPI) read(r *http.Request, s *httpapi.Session) (reportBody, error) {
	var b reportBody
	if err := httpapi.ReadJSON(r, maxSmallBody, &b); err != nil {
		return b, err
	}
	return b, takeLimits(r.Context(), a.Limits, s, ratelimit.Cost{Action: ratelimit.Reports, Key: s.UserID})
}

func (a *ReportAPI) reportEvent(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	b, err := a.read(r, s)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var score *int64
	if len(b.Score) > 0 && string(b.Score) != "null" {
		var n int64
		if json.Unmarshal(b.Score, &n) != nil {
			httpapi.WriteError(w, merr.InvalidParam("score must be an integer from -100 to 0"))
			return
		}
		score = &n
	}
	writeResult(w, a.Reports.ReportEvent(r.Context(), s.UserID, r.PathValue("roomId"), r.PathValue("eventId"), b.Reason, score))
}

// requireReason is the room and user reports' rule: report_content.yaml
// lists reason as required (it may be blank).
func requireReason(b reportBody, err error) (reportBody, error) {
	if err == nil && b.Reason == nil {
		err = merr.MissingParam("reason is required")
	}
	return b, err
}

func (a *ReportAPI) reportRoom(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	b, err := requireReason(a.read(r, s))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeResult(w, a.Reports.ReportRoom(r.Context(), s.UserID, r.PathValue("roomId"), b.Reason))
}

func (a *ReportAPI) reportUser(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	b, err := requireReason(a.read(r, s))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeResult(w, a.Reports.ReportUser(r.Context(), s.UserID, r.PathValue("userId"), b.Reason))
}

// writeResult answers {} or the error.
func writeResult(w http.ResponseWriter, err error) {
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
