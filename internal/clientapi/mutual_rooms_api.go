package clientapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// MutualRoomsAPI serves GET /_matrix/client/v1/mutual_rooms (spec v1.19,
// client-server-api "Mutual Rooms").
type MutualRoomsAPI struct {
	Auth   httpapi.TokenResolver
	Engine *rooms.Engine
}

// Register adds the endpoint.
func (a *MutualRoomsAPI) Register(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/client/v1/mutual_rooms", httpapi.RequireAuth(a.Auth, a.mutualRooms))
}

// mutualRoomsPage bounds the rooms one answer lists; next_batch pages on.
const mutualRoomsPage = 100

func (a *MutualRoomsAPI) mutualRooms(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	other := q.Get("user_id")
	if other == "" {
		httpapi.WriteError(w, merr.InvalidParam("user_id is required"))
		return
	}
	// mutual_rooms.yaml: 400 for a non-compliant user ID or the
	// requester's own.
	if u, err := ids.ParseUserID(other); err != nil || !u.Compliant() || other == s.UserID {
		httpapi.WriteError(w, merr.InvalidParam("The user ID provided was invalid"))
		return
	}
	// The token is an offset into the room IDs in order: a room joined
	// between pages may shift it, which the spec allows ("servers MAY omit
	// rooms that the user joined after the first token was generated").
	offset := 0
	if from := q.Get("from"); from != "" {
		n, err := strconv.Atoi(from)
		if err != nil || n < 0 {
			httpapi.WriteError(w, merr.InvalidParam("invalid from token"))
			return
		}
		offset = n
	}
	store := a.Engine.Store()
	mine, err := store.RoomsForUser(r.Context(), s.UserID, event.Join)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	theirs, err := store.RoomsForUser(r.Context(), other, event.Join)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	joined := map[string]bool{}
	for _, m := range theirs {
		joined[m.RoomID] = true
	}
	shared := []string{}
	for _, m := range mine {
		if joined[m.RoomID] {
			shared = append(shared, m.RoomID)
		}
	}
	slices.Sort(shared)
	resp := map[string]any{"count": len(shared)}
	page := shared[min(offset, len(shared)):]
	if len(page) > mutualRoomsPage {
		page = page[:mutualRoomsPage]
		resp["next_batch"] = strconv.Itoa(offset + mutualRoomsPage)
	}
	resp["joined"] = page
	writeOK(w, resp)
}
