package adminapi

import (
	"net/http"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// Synapse's statistics admin API (docs/admin_api/statistics.md), with its
// parameter checks and messages.

const defaultMediaUsagePage = 100

var mediaUsageOrders = map[string]bool{admin.OrderUserID: true, admin.OrderDisplayName: true,
	admin.OrderMediaLength: true, admin.OrderMediaCount: true}

func mediaUsageQuery(r *http.Request) (admin.MediaUsageQuery, error) {
	var q admin.MediaUsageQuery
	var err error
	if q.From, q.Limit, q.Desc, err = pageParams(r, defaultMediaUsagePage, false); err != nil {
		return q, err
	}
	q.OrderBy = r.URL.Query().Get("order_by")
	if q.OrderBy == "" {
		q.OrderBy = admin.OrderUserID
	}
	if !mediaUsageOrders[q.OrderBy] {
		return q, merr.InvalidParam("Unknown value for order_by: " + q.OrderBy)
	}
	from, err := queryNonNegative(r, "from_ts", 0)
	if err != nil {
		return q, err
	}
	q.FromTS = int64(from)
	if r.URL.Query().Has("until_ts") {
		until, err := queryNonNegative(r, "until_ts", 0)
		if err != nil {
			return q, err
		}
		if until <= from {
			return q, merr.InvalidParam("Query parameter until_ts must be greater than from_ts.")
		}
		q.UntilTS = int64(until)
	}
	if r.URL.Query().Has("search_term") {
		if q.Search = r.URL.Query().Get("search_term"); q.Search == "" {
			return q, merr.InvalidParam("Query parameter search_term cannot be an empty string.")
		}
	}
	return q, nil
}

// usersMedia is GET /_synapse/admin/v1/statistics/users/media.
func (a *API) usersMedia(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	q, err := mediaUsageQuery(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	list, total, err := a.Admin.MediaUsage(r.Context(), q)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(list))
	for i, u := range list {
		out[i] = map[string]any{"user_id": u.UserID, "displayname": nullable(u.DisplayName),
			"media_count": u.Count, "media_length": u.Length}
	}
	resp := map[string]any{"users": out, "total": total}
	// Synapse's next_token here is a number, not a string.
	if q.From+len(list) < total {
		resp["next_token"] = q.From + len(list)
	}
	writeOK(w, resp)
}

// databaseRooms is GET /_synapse/admin/v1/statistics/database/rooms.
func (a *API) databaseRooms(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	rs, err := a.Admin.LargestRooms(r.Context())
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(rs))
	for i, rr := range rs {
		out[i] = map[string]any{"room_id": rr.RoomID, "estimated_size": rr.Bytes}
	}
	writeOK(w, map[string]any{"rooms": out})
}
