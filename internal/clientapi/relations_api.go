package clientapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/relations"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// registerRelations adds GET /relations and GET /threads (v1 paths only,
// as the spec has them).
func (a *RoomAPI) registerRelations(rt *httpapi.Router) {
	if a.Relations == nil {
		return
	}
	auth := func(path string, h httpapi.AuthHandler) {
		rt.Handle("GET /_matrix/client/v1"+path, httpapi.RequireAuth(a.Auth, h))
	}
	auth("/rooms/{roomId}/relations/{eventId}", answer(a.relations))
	auth("/rooms/{roomId}/relations/{eventId}/{relType}", answer(a.relations))
	auth("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", answer(a.relations))
	auth("/rooms/{roomId}/threads", answer(a.threads))
}

// answer makes a handler of a function that returns the answer or the
// error to send.
func answer(fn func(r *http.Request, s *httpapi.Session) (any, error)) httpapi.AuthHandler {
	return func(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
		resp, err := fn(r, s)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		writeOK(w, resp)
	}
}

// bundle adds bundled aggregations to a page of events served to s's
// user (client-server-api "Aggregations of child events").
func (a *RoomAPI) bundle(ctx context.Context, userID string, evs ...*clientevent.Event) error {
	if a.Relations == nil {
		return nil
	}
	return a.Relations.Bundle(ctx, userID, evs)
}

// relations is GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
// (relations.yaml).
func (a *RoomAPI) relations(r *http.Request, s *httpapi.Session) (any, error) {
	ctx := r.Context()
	roomID, parentID := r.PathValue("roomId"), r.PathValue("eventId")
	q := r.URL.Query()
	// "The parent event was not found or the user does not have permission
	// to read this event": 404 either way.
	_, acc, err := a.visibleEvent(r, s, roomID, parentID)
	if errors.Is(err, merr.ErrForbidden) {
		err = merr.NotFound("event not found")
	}
	if err != nil {
		return nil, err
	}
	req := relations.ChildrenRequest{RoomID: roomID, ParentID: parentID,
		RelType: r.PathValue("relType"), EventType: r.PathValue("eventType"), UpTo: acc.UpTo}
	switch q.Get("dir") {
	case "", "b":
	case "f":
		req.Forward = true
	default:
		return nil, httpapi.InvalidParam("dir must be b or f")
	}
	if req.Limit, err = queryLimit(r, relations.DefaultLimit, relations.MaxLimit); err != nil {
		return nil, err
	}
	recurse, hasRecurse := false, q.Has("recurse")
	if hasRecurse {
		if recurse, err = strconv.ParseBool(q.Get("recurse")); err != nil {
			return nil, httpapi.InvalidParam("recurse must be true or false")
		}
	}
	req.Recurse = recurse
	req.From = acc.UpTo
	if req.Forward {
		req.From = beforeAll
	}
	from := q.Get("from")
	if from != "" {
		if req.From, err = parsePageToken(from); err != nil {
			return nil, err
		}
	}
	if t := q.Get("to"); t != "" {
		if req.To, err = parsePageToken(t); err != nil {
			return nil, err
		}
		req.HasTo = true
	}
	page, err := a.Relations.Children(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := a.pageResponse(r, s, acc, page)
	if err != nil {
		return nil, err
	}
	if from != "" {
		resp["prev_batch"] = from
	}
	if hasRecurse {
		depth := 1
		if recurse {
			depth = relations.RecurseDepth
		}
		resp["recursion_depth"] = depth
	}
	return resp, nil
}

// threads is GET /rooms/{roomId}/threads (threads_list.yaml).
func (a *RoomAPI) threads(r *http.Request, s *httpapi.Session) (any, error) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err != nil {
		return nil, err
	}
	req := relations.ThreadsRequest{RoomID: roomID, UserID: s.UserID, UpTo: acc.UpTo}
	switch q.Get("include") {
	case "", "all":
	case "participated":
		req.Participated = true
	default:
		return nil, httpapi.InvalidParam("include must be all or participated")
	}
	if req.Limit, err = queryLimit(r, relations.DefaultLimit, relations.MaxLimit); err != nil {
		return nil, err
	}
	if q.Get("limit") != "" && req.Limit == 0 {
		return nil, httpapi.InvalidParam("limit must be greater than zero")
	}
	if t := q.Get("from"); t != "" {
		if req.Before, err = parsePageToken(t); err != nil {
			return nil, err
		}
		req.HasBefore = true
	}
	page, err := a.Relations.Threads(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.pageResponse(r, s, acc, page)
}

// pageResponse is the answer of a page of /relations or /threads: the
// events the reader may see, formatted with their bundled aggregations,
// and next_batch when there is more.
func (a *RoomAPI) pageResponse(r *http.Request, s *httpapi.Session, acc *access, page relations.Page) (map[string]any, error) {
	visible, err := a.Engine.FilterVisible(r.Context(), s.UserID, page.Events, acc.Joined)
	if err != nil {
		return nil, err
	}
	chunk, err := a.formatAll(r, s, visible)
	if err != nil {
		return nil, err
	}
	if err := a.bundle(r.Context(), s.UserID, chunk...); err != nil {
		return nil, err
	}
	resp := map[string]any{"chunk": chunk}
	if page.More {
		resp["next_batch"] = syncapi.Token(page.Next)
	}
	return resp, nil
}
