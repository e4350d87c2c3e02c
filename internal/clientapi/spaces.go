package clientapi

import (
	"net/http"
	"strconv"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/spaces"
)

// SpacesAPI serves the space hierarchy and room summaries.
type SpacesAPI struct {
	Auth   httpapi.TokenResolver
	Spaces *spaces.Service
}

// Register adds the endpoints (v1 only, as the spec defines them).
func (a *SpacesAPI) Register(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", httpapi.RequireAuth(a.Auth, a.hierarchy))
}

// hierarchy is GET /_matrix/client/v1/rooms/{roomId}/hierarchy
// (client-server-api "Spaces").
func (a *SpacesAPI) hierarchy(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	var query spaces.Query
	var err error
	if query.SuggestedOnly, err = boolParam(q.Get("suggested_only"), "suggested_only"); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if query.Limit, err = intParam(q.Get("limit"), "limit", 1, spaces.DefaultLimit); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if query.MaxDepth, err = intParam(q.Get("max_depth"), "max_depth", 0, spaces.DefaultMaxDepth); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	query.Limit = min(query.Limit, spaces.MaxLimit)
	query.MaxDepth = min(query.MaxDepth, spaces.MaxMaxDepth)
	query.From = q.Get("from")
	page, err := a.Spaces.Hierarchy(r.Context(), s.UserID, r.PathValue("roomId"), query)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, page)
}

// boolParam reads a boolean query parameter; absent is false.
func boolParam(v, name string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, httpapi.InvalidParam(name + " must be true or false")
}

// intParam reads an integer query parameter of at least least; absent is def.
func intParam(v, name string, least, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		return 0, httpapi.InvalidParam(name + " must be an integer of at least " + strconv.Itoa(least))
	}
	return n, nil
}
