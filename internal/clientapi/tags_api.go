package clientapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
)

// TagService edits room tags (internal/tags).
type TagService interface {
	Tags(ctx context.Context, userID, roomID string) (map[string]json.RawMessage, error)
	Put(ctx context.Context, userID, roomID, tag string, content json.RawMessage) error
	Delete(ctx context.Context, userID, roomID, tag string) error
}

// TagsAPI serves the room tag endpoints (client-server-api "Room
// Tagging").
type TagsAPI struct {
	Auth httpapi.TokenResolver
	Tags TagService
}

// Register adds the endpoints under both the v3 and r0 prefixes.
func (a *TagsAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		auth := func(method, path string, h httpapi.AuthHandler) {
			rt.Handle(method+" "+p+path, httpapi.RequireAuth(a.Auth, h))
		}
		auth("GET", "/user/{userId}/rooms/{roomId}/tags", a.get)
		auth("PUT", "/user/{userId}/rooms/{roomId}/tags/{tag}", a.put)
		auth("DELETE", "/user/{userId}/rooms/{roomId}/tags/{tag}", a.delete)
	}
}

func ownTags(r *http.Request, s *httpapi.Session) error {
	if r.PathValue("userId") != s.UserID {
		return merr.Forbidden("cannot read or change other users' tags")
	}
	return nil
}

func (a *TagsAPI) get(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := ownTags(r, s); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	tags, err := a.Tags.Tags(r.Context(), s.UserID, r.PathValue("roomId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"tags": tags})
}

func (a *TagsAPI) put(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := ownTags(r, s); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	body, err := httpapi.ReadBody(r, maxSmallBody)
	if err == nil {
		err = httpapi.CheckJSONObject(body)
	}
	if err == nil {
		err = a.Tags.Put(r.Context(), s.UserID, r.PathValue("roomId"), r.PathValue("tag"), body)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}

func (a *TagsAPI) delete(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if err := ownTags(r, s); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := a.Tags.Delete(r.Context(), s.UserID, r.PathValue("roomId"), r.PathValue("tag")); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, emptyObject)
}
