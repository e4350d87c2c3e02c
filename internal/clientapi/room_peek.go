package clientapi

// Room previews (client-server-api "Room Previews"): a client views a room
// without joining it through GET /rooms/{roomId}/initialSync, then follows
// it with GET /events?room_id=. Both serve members too.
//
// What is served of the old event stream: only the peeking form of
// GET /events, which names one room (peeking_events.yaml, the current
// module). The form without room_id, the stream of every room a user is
// in, was deprecated in r0 in favour of /sync, and is answered
// M_MISSING_PARAM; so are the other endpoints deprecated with it (the
// global /initialSync, /events/{eventId}), which are not routed at all.

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/presence"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/streams"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// PresenceReader shows members' presence in a room's initialSync.
type PresenceReader interface {
	// Shown is userID's presence for an observer sharing a room with
	// them; ok is false when presence is disabled.
	Shown(ctx context.Context, userID string) (c presence.Content, ok bool, err error)
}

// Bounds of the preview endpoints.
const (
	// initialSyncDefaultLimit is Synapse's number of messages when the
	// client names no limit; maxInitialSyncLimit caps what it names.
	initialSyncDefaultLimit = 10
	maxInitialSyncLimit     = 100
	// maxInitialSyncPresence caps the members whose presence is shown.
	maxInitialSyncPresence = 500
	// maxInitialSyncAccountData caps the room's account data entries.
	maxInitialSyncAccountData = 100
	// maxPeekChunk caps the events of one /events answer; a client given
	// a full chunk comes straight back from its end token.
	maxPeekChunk = 100
	// defaultPeekTimeout is Synapse's wait when the client names none.
	defaultPeekTimeout = 30 * time.Second
)

// roomInitialSync is GET /rooms/{roomId}/initialSync: the room's state and
// latest messages for a member, a former member (as of leaving, Synapse's
// rule, like /messages), or anyone when the room is world_readable; 403
// otherwise. History visibility applies to every message.
func (a *RoomAPI) roomInitialSync(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit, err := queryLimit(r, initialSyncDefaultLimit, maxInitialSyncLimit)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	view, err := a.stateView(ctx, roomID, acc)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	stateEvs, err := view.Events(nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	evs, err := a.Engine.Store().RoomEvents(ctx, roomID, beforeAll, acc.UpTo, limit, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	start := acc.UpTo
	if len(evs) > 0 {
		start = evs[len(evs)-1].StreamPos - 1
	}
	chunk, err := a.visibleChunk(r, s, roomID, evs, acc.Joined)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	slices.Reverse(chunk) // read newest first; served oldest first
	room, err := a.Engine.Store().Room(ctx, roomID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	vis := "private"
	if room.IsPublic {
		vis = "public"
	}
	items, err := a.AccountData.RoomAccountData(ctx, s.UserID, roomID, maxInitialSyncAccountData)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	accountData := make([]map[string]any, 0, len(items))
	for _, it := range items {
		accountData = append(accountData, map[string]any{"type": it.Type, "content": it.Content})
	}
	pres := []map[string]any{}
	if acc.Joined {
		// Presence is shown only to users who share a room
		// (client-server-api "Presence"): members, not peekers.
		if pres, err = a.membersPresence(ctx, stateEvs); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	resp := map[string]any{
		"room_id":      roomID,
		"messages":     map[string]any{"chunk": chunk, "start": syncapi.Token(start), "end": syncapi.Token(acc.UpTo)},
		"state":        a.formatState(stateEvs),
		"presence":     pres,
		"account_data": accountData,
		"visibility":   vis,
	}
	membership := acc.Membership
	if membership == "" {
		// A peeker: their membership in the room's state, if any (an
		// invite, a leave after forgetting); otherwise none is claimed.
		if m := view.Get(event.TypeMember, s.UserID); m != nil {
			membership = m.Membership()
		}
	}
	if membership != "" {
		resp["membership"] = membership
	}
	writeOK(w, resp)
}

// visibleChunk formats those of evs the user may see (history visibility,
// ignored users), with their bundled aggregations.
func (a *RoomAPI) visibleChunk(r *http.Request, s *httpapi.Session, roomID string, evs []*roomstore.StoredEvent, joined bool) ([]*clientevent.Event, error) {
	ctx := r.Context()
	visible, err := a.Engine.FilterVisible(ctx, s.UserID, evs, joined)
	if err != nil {
		return nil, err
	}
	kept, err := a.keepFiltered(ctx, s.UserID, syncapi.RoomEventFilter{}, roomID, visible)
	if err != nil {
		return nil, err
	}
	chunk, err := a.formatAll(r, s, kept)
	if err == nil {
		err = a.bundle(ctx, s.UserID, chunk...)
	}
	return chunk, err
}

// membersPresence is the m.presence of the joined members in state, as
// Synapse's room initialSync lists them, at most maxInitialSyncPresence.
func (a *RoomAPI) membersPresence(ctx context.Context, state []*event.Event) ([]map[string]any, error) {
	out := []map[string]any{}
	if a.Presence == nil {
		return out, nil
	}
	for _, ev := range state {
		if ev.Type() != event.TypeMember || ev.Membership() != event.Join || ev.StateKey() == nil {
			continue
		}
		if len(out) == maxInitialSyncPresence {
			break
		}
		c, ok, err := a.Presence.Shown(ctx, *ev.StateKey())
		if err != nil || !ok {
			return out, err
		}
		// content carries user_id too, as Synapse sends it here: clients
		// of this old API (matrix-js-sdk's peek) read it from there.
		content := struct {
			presence.Content
			UserID string `json:"user_id"`
		}{c, *ev.StateKey()}
		out = append(out, map[string]any{"type": "m.presence", "sender": *ev.StateKey(), "content": content})
	}
	return out, nil
}

// peekEvents is GET /events?room_id=: the events of one room after from,
// waiting up to timeout for the first. The caller must be joined to the
// room or the room must be world_readable now; each event is then shown
// only if its history visibility lets the caller see it (room_previews.md
// "Server behaviour": for non-members, world_readable at the event).
func (a *RoomAPI) peekEvents(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	q := r.URL.Query()
	roomID := q.Get("room_id")
	if roomID == "" {
		httpapi.WriteError(w, httpapi.MissingParam("room_id is required: only the peeking /events of one room is served (the stream of all rooms was replaced by /sync)"))
		return
	}
	timeout := defaultPeekTimeout
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			httpapi.WriteError(w, httpapi.InvalidParam("timeout must be an integer"))
			return
		}
		timeout = time.Duration(max(min(ms, syncapi.MaxTimeout.Milliseconds()), 0)) * time.Millisecond
	}
	from := a.Engine.Stream().Current()
	if t := q.Get("from"); t != "" {
		var err error
		if from, err = parsePageToken(t); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	start := from
	for {
		// Listen before reading, so an event committed between the read
		// and the wait still wakes us.
		wake := a.Engine.Notifier().Listen(streams.RoomKey(roomID))
		joined, err := a.peekAccess(ctx, roomID, s.UserID)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		upto := a.Engine.Stream().Current()
		if from > upto {
			from = upto // a token from the future (a restored database)
		}
		if start > from {
			start = from
		}
		evs, err := a.Engine.Store().RoomEvents(ctx, roomID, from, upto, maxPeekChunk, true)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		end, more := upto, len(evs) == maxPeekChunk
		if more {
			end = evs[len(evs)-1].StreamPos
		}
		chunk, err := a.visibleChunk(r, s, roomID, evs, joined)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		// What was read and hidden is behind us: the next read starts
		// after it, and so does the token we answer.
		from = end
		if len(chunk) > 0 {
			writeOK(w, map[string]any{"chunk": chunk, "start": syncapi.Token(start), "end": syncapi.Token(end)})
			return
		}
		if more && ctx.Err() == nil {
			continue // a full read, all hidden: read on before waiting
		}
		select {
		case <-wake:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		case <-a.Syncer.Stopping():
		}
		writeOK(w, map[string]any{"chunk": chunk, "start": syncapi.Token(start), "end": syncapi.Token(end)})
		return
	}
}

// peekAccess decides whether userID may follow roomID's new events:
// members may, and anyone while the room is world_readable (former
// members too, like anyone); joined tells the visibility check which.
func (a *RoomAPI) peekAccess(ctx context.Context, roomID, userID string) (joined bool, err error) {
	acc, err := a.readAccess(ctx, roomID, userID)
	if err != nil {
		return false, err
	}
	if acc.Joined || acc.WorldReadable {
		return acc.Joined, nil
	}
	view, err := a.Engine.CurrentView(ctx, roomID)
	if err != nil {
		return false, err
	}
	if visibility.HistoryVisibility(view) == visibility.WorldReadable {
		return false, nil
	}
	return false, merr.Forbidden("you are not in this room and it is not world_readable")
}
