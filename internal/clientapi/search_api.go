package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/search"
)

// SearchAPI serves POST /search (client-server-api "Server Side Search").
type SearchAPI struct {
	Auth   httpapi.TokenResolver
	Search *search.Service
}

// Register adds the search endpoint to rt.
func (a *SearchAPI) Register(rt *httpapi.Router) {
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		rt.Handle("POST "+p+"/search", httpapi.RequireAuth(a.Auth, a.search))
	}
}

// maxSearchBody bounds a search request: a filter (at most
// syncapi.MaxFilterBytes) and a few small fields.
const maxSearchBody = 64 << 10

// searchBody is search.yaml's request body.
type searchBody struct {
	Categories *struct {
		RoomEvents *struct {
			SearchTerm   *string         `json:"search_term"`
			Keys         []string        `json:"keys"`
			Filter       json.RawMessage `json:"filter"`
			OrderBy      string          `json:"order_by"`
			EventContext *struct {
				BeforeLimit    *int `json:"before_limit"`
				AfterLimit     *int `json:"after_limit"`
				IncludeProfile bool `json:"include_profile"`
			} `json:"event_context"`
			IncludeState bool `json:"include_state"`
			Groupings    *struct {
				GroupBy []struct {
					Key string `json:"key"`
				} `json:"group_by"`
			} `json:"groupings"`
		} `json:"room_events"`
	} `json:"search_categories"`
}

// search is POST /search. Categories other than room_events are ignored,
// as the spec allows for categories a server does not know.
func (a *SearchAPI) search(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	var body searchBody
	if err := httpapi.ReadJSON(r, maxSearchBody, &body); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if body.Categories == nil {
		httpapi.WriteError(w, httpapi.BadJSON("search_categories is required"))
		return
	}
	out := map[string]any{}
	if re := body.Categories.RoomEvents; re != nil {
		if re.SearchTerm == nil {
			httpapi.WriteError(w, httpapi.BadJSON("search_categories.room_events.search_term is required"))
			return
		}
		c := search.Criteria{SearchTerm: *re.SearchTerm, Keys: re.Keys, OrderBy: re.OrderBy, IncludeState: re.IncludeState}
		if len(re.Filter) > 0 && string(re.Filter) != "null" {
			if err := decodeFilter(re.Filter, &c.Filter); err != nil {
				httpapi.WriteError(w, err)
				return
			}
		}
		if ec := re.EventContext; ec != nil {
			c.EventContext = &search.EventContext{BeforeLimit: intOr(ec.BeforeLimit, search.DefaultContext),
				AfterLimit: intOr(ec.AfterLimit, search.DefaultContext), IncludeProfile: ec.IncludeProfile}
		}
		if g := re.Groupings; g != nil {
			for _, k := range g.GroupBy {
				c.GroupBy = append(c.GroupBy, k.Key)
			}
		}
		res, err := a.Search.RoomEvents(r.Context(), search.Request{UserID: s.UserID, DeviceID: s.DeviceID,
			Criteria: c, NextBatch: r.URL.Query().Get("next_batch")})
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		out["room_events"] = res
	}
	writeOK(w, map[string]any{"search_categories": out})
}

func intOr(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}
