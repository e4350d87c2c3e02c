package clientapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// decodeFilter reads a filter a client gave us, inline or uploaded, for
// /sync, /messages or /context: every endpoint that takes a filter goes
// through here, so one set of bounds (syncapi.MaxFilterBytes and
// MaxFilterListLen) holds everywhere.
func decodeFilter(raw []byte, f interface{ Validate() error }) error {
	if len(raw) > syncapi.MaxFilterBytes {
		return httpapi.TooLarge(fmt.Sprintf("filter is larger than %d bytes", syncapi.MaxFilterBytes))
	}
	if err := httpapi.DecodeJSON(raw, f); err != nil {
		return err
	}
	return f.Validate()
}

// sync is GET /sync.
func (a *RoomAPI) sync(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	req := syncapi.Request{UserID: s.UserID, DeviceID: s.DeviceID, Since: q.Get("since")}
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			httpapi.WriteError(w, httpapi.InvalidParam("timeout must be a non-negative integer"))
			return
		}
		req.Timeout = time.Duration(ms) * time.Millisecond
	}
	switch q.Get("full_state") {
	case "", "false":
	case "true":
		req.FullState = true
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("full_state must be true or false"))
		return
	}
	// use_state_after (spec v1.16): state up to the end of the timeline,
	// in state_after instead of state.
	switch q.Get("use_state_after") {
	case "", "false":
	case "true":
		req.UseStateAfter = true
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("use_state_after must be true or false"))
		return
	}
	switch sp := q.Get("set_presence"); sp {
	case "", "online", "unavailable", "offline":
		req.SetPresence = sp
	default:
		httpapi.WriteError(w, httpapi.InvalidParam("set_presence must be online, unavailable or offline"))
		return
	}
	if f := q.Get("filter"); f != "" {
		filter, err := a.loadFilter(r, s.UserID, f)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		req.Filter = filter
	}
	body, err := a.Syncer.SyncJSON(r.Context(), req)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = body.WriteTo(w)
}

// loadFilter reads an inline filter ("{...}") or a stored filter ID.
func (a *RoomAPI) loadFilter(r *http.Request, userID, f string) (*syncapi.Filter, error) {
	var raw []byte
	if strings.HasPrefix(f, "{") {
		raw = []byte(f)
	} else {
		var err error
		if raw, err = a.Filters.Filter(r.Context(), userID, f); err != nil {
			return nil, merr.NotFound("unknown filter")
		}
	}
	var filter syncapi.Filter
	if err := decodeFilter(raw, &filter); err != nil {
		return nil, err
	}
	return &filter, nil
}

// postFilter is POST /user/{userId}/filter.
func (a *RoomAPI) postFilter(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot create filters for other users"))
		return
	}
	body, err := httpapi.ReadBody(r, syncapi.MaxFilterBytes)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var filter syncapi.Filter
	if err := decodeFilter(body, &filter); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	id, err := a.Filters.PutFilter(r.Context(), s.UserID, body)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]string{"filter_id": id})
}

// getFilter is GET /user/{userId}/filter/{filterId}.
func (a *RoomAPI) getFilter(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot read other users' filters"))
		return
	}
	raw, err := a.Filters.Filter(r.Context(), s.UserID, r.PathValue("filterId"))
	if err != nil {
		httpapi.WriteError(w, merr.NotFound("unknown filter"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

// putAccountData is PUT /user/{userId}/[rooms/{roomId}/]account_data/{type}.
// Each write takes the next position of the shared stream, so /sync sees it.
func (a *RoomAPI) putAccountData(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot set account data for other users"))
		return
	}
	typ, roomID := r.PathValue("type"), r.PathValue("roomId")
	if !validType(typ) {
		httpapi.WriteError(w, httpapi.InvalidParam("invalid account data type"))
		return
	}
	// The server manages these two itself (client-server-api "Client Config").
	if typ == "m.fully_read" || typ == "m.push_rules" {
		httpapi.WriteError(w, httpapi.Unknown(http.StatusBadRequest, "cannot set "+typ+" through the account data API"))
		return
	}
	content, err := readContent(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if roomID != "" {
		if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("unknown room"))
			return
		}
	}
	tracker := a.Engine.Stream()
	pos := tracker.Reserve()
	err = a.AccountData.PutAccountData(r.Context(), s.UserID, roomID, typ, content, pos)
	tracker.Finish(pos)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.Engine.Notifier().Wake(s.UserID)
	writeOK(w, emptyObject)
}

// getAccountData is GET /user/{userId}/[rooms/{roomId}/]account_data/{type}.
func (a *RoomAPI) getAccountData(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if r.PathValue("userId") != s.UserID {
		httpapi.WriteError(w, merr.Forbidden("cannot read account data of other users"))
		return
	}
	raw, err := a.AccountData.AccountData(r.Context(), s.UserID, r.PathValue("roomId"), r.PathValue("type"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if raw == nil {
		httpapi.WriteError(w, merr.NotFound("account data not found"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}
