package clientapi

import (
	"context"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
)

// UserDirectory searches the user directory (internal/userdir).
type UserDirectory interface {
	Search(ctx context.Context, searcher, term string, limit int) ([]userdirstore.Entry, bool, error)
}

// UserDirectoryAPI serves POST /user_directory/search (client-server-api
// "User directory").
type UserDirectoryAPI struct {
	Auth httpapi.TokenResolver
	// Directory is nil when user_directory.enabled is false: searches
	// then find nobody, as in Synapse.
	Directory UserDirectory
}

// Register adds the endpoint under both the v3 and r0 prefixes.
func (a *UserDirectoryAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		rt.Handle("POST "+p+"/user_directory/search", httpapi.RequireAuth(a.Auth, a.search))
	}
}

// maxSearchTerm bounds the search term (bytes); a display name is at most
// 256 characters.
const maxSearchTerm = 1024

type userDirectoryResult struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

func (a *UserDirectoryAPI) search(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body struct {
		SearchTerm *string  `json:"search_term"`
		Limit      *float64 `json:"limit"`
	}
	if err := httpapi.ReadJSON(r, maxSmallBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.SearchTerm == nil {
		httpapi.WriteError(w, httpapi.MissingParam("search_term is required"))
		return
	}
	if len(*body.SearchTerm) > maxSearchTerm {
		httpapi.WriteError(w, httpapi.InvalidParam("search_term is too long"))
		return
	}
	limit := 10 // the spec's default
	if body.Limit != nil {
		if *body.Limit != float64(int64(*body.Limit)) {
			httpapi.WriteError(w, httpapi.InvalidParam("limit must be an integer"))
			return
		}
		// Negative limits find nobody and large ones are capped, as in
		// Synapse.
		limit = int(max(-1, min(*body.Limit, 1000)))
	}
	resp := struct {
		Limited bool                  `json:"limited"`
		Results []userDirectoryResult `json:"results"`
	}{Results: []userDirectoryResult{}}
	if a.Directory != nil {
		found, limited, err := a.Directory.Search(r.Context(), s.UserID, *body.SearchTerm, limit)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		resp.Limited = limited
		for _, e := range found {
			resp.Results = append(resp.Results, userDirectoryResult{UserID: e.UserID, DisplayName: e.DisplayName, AvatarURL: e.AvatarURL})
		}
	}
	writeOK(w, resp)
}
