package federationapi

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

func pduList(evs []*event.Event) []any {
	out := make([]any, 0, len(evs))
	for _, ev := range evs {
		out = append(out, rawJSON(ev.FederationJSON()))
	}
	return out
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// getEvent is GET /event/{eventId}, for servers allowed to see it.
func (a *API) getEvent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	se, err := a.Engine.Store().Event(ctx, r.PathValue("eventId"))
	if err != nil || se.Rejected {
		writeErr(w, merr.NotFound("event not found"))
		return
	}
	ok, err := a.Engine.ServerCanSee(ctx, a.Origin(r), se)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !ok {
		writeErr(w, merr.Forbidden("your server may not see this event"))
		return
	}
	ev, err := a.servedForm(ctx, a.Origin(r), se, se.Event)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"origin": a.ServerName, "origin_server_ts": a.nowMS(), "pdus": pduList([]*event.Event{ev})})
}

// stateAt serves /state and /state_ids: the state before event_id.
func (a *API) stateAt(w http.ResponseWriter, r *http.Request, idsOnly bool) {
	ctx := r.Context()
	roomID, eventID := r.PathValue("roomId"), r.URL.Query().Get("event_id")
	if eventID == "" {
		writeErr(w, merr.MissingParam("event_id is required"))
		return
	}
	se, err := a.Engine.Store().Event(ctx, eventID)
	if err != nil || se.RoomID() != roomID {
		writeErr(w, merr.NotFound("event not found"))
		return
	}
	if ok, err := a.Engine.ServerCanSee(ctx, a.Origin(r), se); err != nil || !ok {
		writeErr(w, merr.Forbidden("your server may not see this room's state"))
		return
	}
	state, chain, err := a.Engine.StateAtEvent(ctx, roomID, eventID)
	if err != nil {
		writeErr(w, err)
		return
	}
	if idsOnly {
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"pdu_ids": eventIDs(state), "auth_chain_ids": eventIDs(chain)})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"pdus": pduList(state), "auth_chain": pduList(chain)})
}

func eventIDs(evs []*event.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.EventID())
	}
	return out
}

func (a *API) state(w http.ResponseWriter, r *http.Request)    { a.stateAt(w, r, false) }
func (a *API) stateIDs(w http.ResponseWriter, r *http.Request) { a.stateAt(w, r, true) }

// eventAuth is GET /event_auth/{roomId}/{eventId}: the event's auth chain.
func (a *API) eventAuth(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	se, err := a.Engine.Store().Event(ctx, r.PathValue("eventId"))
	if err != nil || se.RoomID() != roomID {
		writeErr(w, merr.NotFound("event not found"))
		return
	}
	if ok, err := a.Engine.ServerCanSee(ctx, a.Origin(r), se); err != nil || !ok {
		writeErr(w, merr.Forbidden("your server may not see this event"))
		return
	}
	chain, err := a.Engine.AuthChain(ctx, se.AuthEventIDs())
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"auth_chain": pduList(chain)})
}

// backfill is GET /backfill/{roomId}?v=…&limit=….
func (a *API) backfill(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	from := q["v"]
	limit, err := strconv.Atoi(q.Get("limit"))
	if len(from) == 0 || err != nil || limit < 1 {
		writeErr(w, merr.MissingParam("v and a positive limit are required"))
		return
	}
	if limit > 100 {
		limit = 100
	}
	evs, err := a.Engine.Backfill(ctx, roomID, from, limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	visible, err := a.visibleTo(r, evs)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"origin": a.ServerName, "origin_server_ts": a.nowMS(), "pdus": pduList(visible)})
}

// visibleTo keeps the events the requesting server may see, redacting
// those that were redacted.
func (a *API) visibleTo(r *http.Request, evs []*event.Event) ([]*event.Event, error) {
	out := make([]*event.Event, 0, len(evs))
	for _, ev := range evs {
		se, err := a.Engine.Store().Event(r.Context(), ev.EventID())
		if err != nil {
			continue
		}
		ok, err := a.Engine.ServerCanSee(r.Context(), a.Origin(r), se)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if ev, err = a.servedForm(r.Context(), a.Origin(r), se, ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// servedForm is ev (the event se holds) as a server that may see it is
// served it: redacted when it was redacted, or when its sender was erased
// and the server joined the room after it was sent (rooms.ServerRedacts).
func (a *API) servedForm(ctx context.Context, server string, se *roomstore.StoredEvent, ev *event.Event) (*event.Event, error) {
	if se.RedactedBy != "" {
		return ev.Redacted(), nil
	}
	redact, err := a.Engine.ServerRedacts(ctx, server, se)
	if err != nil {
		return nil, err
	}
	if redact {
		return ev.Redacted(), nil
	}
	return ev, nil
}

// getMissingEvents is POST /get_missing_events/{roomId}.
func (a *API) getMissingEvents(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Earliest []string `json:"earliest_events"`
		Latest   []string `json:"latest_events"`
		Limit    int      `json:"limit"`
		MinDepth int64    `json:"min_depth"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		writeErr(w, err)
		return
	}
	if body.Limit <= 0 {
		body.Limit = 10
	}
	if body.Limit > 100 {
		body.Limit = 100
	}
	roomID := r.PathValue("roomId")
	if in, err := a.Engine.ServerInRoom(r.Context(), roomID, a.Origin(r)); err != nil || !in {
		writeErr(w, merr.Forbidden("your server is not in this room"))
		return
	}
	evs, err := a.Engine.MissingEvents(r.Context(), roomID, body.Earliest, body.Latest, body.Limit, body.MinDepth)
	if err != nil {
		writeErr(w, err)
		return
	}
	visible, err := a.visibleTo(r, evs)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"events": pduList(visible)})
}

// timestampToEvent is GET /timestamp_to_event/{roomId}?ts=…&dir=f|b: the
// closest event to ts we hold in the timeline, if the asking server may see
// it (the spec leaves visibility to us; the same rule as /event applies,
// so the endpoint never reveals more than fetching the event would).
func (a *API) timestampToEvent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		writeErr(w, merr.BadRequest(merr.CodeInvalidParam, "ts must be an integer"))
		return
	}
	dir := q.Get("dir")
	if dir != "f" && dir != "b" {
		writeErr(w, merr.BadRequest(merr.CodeInvalidParam, "dir must be f or b"))
		return
	}
	if _, err := a.Engine.Store().Room(ctx, roomID); err != nil {
		writeErr(w, merr.NotFound("unknown room"))
		return
	}
	se, err := a.Engine.Store().EventNearTS(ctx, roomID, ts, dir == "f", math.MaxInt64)
	if err != nil {
		writeErr(w, err)
		return
	}
	if se == nil {
		writeErr(w, merr.NotFound("no event found in that direction"))
		return
	}
	if ok, err := a.Engine.ServerCanSee(ctx, a.Origin(r), se); err != nil || !ok {
		writeErr(w, merr.NotFound("no event found in that direction"))
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event_id": se.EventID(), "origin_server_ts": se.OriginServerTS()})
}
