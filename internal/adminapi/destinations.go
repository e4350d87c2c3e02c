package adminapi

import (
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
)

// Synapse's federation admin API (docs/usage/administration/admin_api/federation.md).

const defaultDestinationPage = 100

func destinationJSON(d *fedqueue.Destination) map[string]any {
	var failure, lastPos, retryLast any
	if d.Retry.FailingSinceMS != 0 {
		failure = d.Retry.FailingSinceMS
	}
	if d.LastSentStreamPos != 0 {
		lastPos = d.LastSentStreamPos
	}
	// Synapse records when it last tried; the queue records when it will
	// try next and the interval, whose difference is the last attempt.
	retryLast = int64(0)
	if d.Retry.AtMS != 0 {
		retryLast = max(0, d.Retry.AtMS-d.Retry.IntervalMS)
	}
	return map[string]any{
		"destination":                     d.Name,
		"retry_last_ts":                   retryLast,
		"retry_interval":                  d.Retry.IntervalMS,
		"failure_ts":                      failure,
		"last_successful_stream_ordering": lastPos,
	}
}

// pageParams reads from, limit and dir, as Synapse's paginated admin lists
// do; defDesc is the list's own default direction.
func pageParams(r *http.Request, defLimit int, defDesc bool) (from, limit int, desc bool, err error) {
	if from, err = queryNonNegative(r, "from", 0); err != nil {
		return 0, 0, false, err
	}
	if limit, err = queryNonNegative(r, "limit", defLimit); err != nil {
		return 0, 0, false, err
	}
	desc = defDesc
	if r.URL.Query().Has("dir") {
		desc, err = queryDir(r)
	}
	return from, limit, desc, err
}

// listDestinations is GET /_synapse/admin/v1/federation/destinations.
func (a *API) listDestinations(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	from, limit, desc, err := pageParams(r, defaultDestinationPage, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	orderBy := r.URL.Query().Get("order_by")
	if orderBy == "" {
		orderBy = "destination"
	}
	if _, ok := fedqueue.DestinationOrders[orderBy]; !ok {
		httpapi.WriteError(w, merr.InvalidParam("Unknown value for order_by: "+orderBy))
		return
	}
	ds, total, err := a.Admin.Destinations(r.Context(), fedqueue.DestinationQuery{Search: r.URL.Query().Get("destination"),
		OrderBy: orderBy, Descending: desc, From: from, Limit: limit})
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]map[string]any, len(ds))
	for i := range ds {
		out[i] = destinationJSON(&ds[i])
	}
	resp := map[string]any{"destinations": out, "total": total}
	if from+len(ds) < total {
		resp["next_token"] = strconv.Itoa(from + len(ds))
	}
	writeOK(w, resp)
}

// getDestination is GET /_synapse/admin/v1/federation/destinations/{destination}.
func (a *API) getDestination(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	d, err := a.Admin.Destination(r.Context(), r.PathValue("destination"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, destinationJSON(d))
}

// resetConnection is POST .../destinations/{destination}/reset_connection.
func (a *API) resetConnection(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	if err := a.Admin.ResetConnection(r.Context(), r.PathValue("destination")); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{})
}

// destinationRooms is GET .../destinations/{destination}/rooms.
func (a *API) destinationRooms(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	from, limit, desc, err := pageParams(r, defaultDestinationPage, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	rs, err := a.Admin.DestinationRooms(r.Context(), r.PathValue("destination"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	total := len(rs)
	out := []map[string]any{}
	for i := from; i < total && len(out) < limit; i++ {
		rr := rs[i]
		if desc {
			rr = rs[total-1-i]
		}
		out = append(out, map[string]any{"room_id": rr.RoomID, "stream_ordering": rr.StreamPos})
	}
	resp := map[string]any{"rooms": out, "total": total}
	if from+len(out) < total {
		resp["next_token"] = strconv.Itoa(from + len(out))
	}
	writeOK(w, resp)
}
