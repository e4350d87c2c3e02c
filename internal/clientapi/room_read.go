package clientapi

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/synctoken"
)

// getState is GET /rooms/{roomId}/state/{eventType}/{stateKey}.
func (a *RoomAPI) getState(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	view, err := a.readableState(ctx, roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ev := view.Get(r.PathValue("eventType"), r.PathValue("stateKey"))
	if err := view.Err(); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if ev == nil {
		httpapi.WriteError(w, merr.NotFound("state event not found"))
		return
	}
	if r.URL.Query().Get("format") == "event" {
		writeOK(w, clientevent.Format(ev, clientevent.Options{NowMS: a.now().UnixMilli()}))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(ev.Content())
}

// getAllState is GET /rooms/{roomId}/state.
func (a *RoomAPI) getAllState(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	view, err := a.readableState(ctx, roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	evs, err := view.Events(nil)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := a.formatState(evs)
	sort.Slice(out, func(i, j int) bool { return out[i].OriginServerTS < out[j].OriginServerTS })
	writeOK(w, out)
}

// visibleEvent loads one event the user may see, or 404.
func (a *RoomAPI) visibleEvent(r *http.Request, s *httpapi.Session, roomID, eventID string) (*roomstore.StoredEvent, *access, error) {
	ctx := r.Context()
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err != nil {
		return nil, nil, err
	}
	se, err := a.Engine.Store().Event(ctx, eventID)
	if err != nil || se.RoomID() != roomID || se.Rejected || se.SoftFailed || se.StreamPos == 0 || se.StreamPos > acc.UpTo {
		return nil, nil, merr.NotFound("event not found")
	}
	vis, err := a.Engine.FilterVisible(ctx, s.UserID, []*roomstore.StoredEvent{se}, acc.Joined)
	if err != nil {
		return nil, nil, err
	}
	if len(vis) == 0 {
		return nil, nil, merr.NotFound("event not found")
	}
	return vis[0], acc, nil
}

// getEvent is GET /rooms/{roomId}/event/{eventId}.
func (a *RoomAPI) getEvent(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	se, _, err := a.visibleEvent(r, s, r.PathValue("roomId"), r.PathValue("eventId"))
	if errors.Is(err, merr.ErrForbidden) {
		// rooms.yaml: 404 "The event was not found or you do not have
		// permission to read this event", so that a non-member cannot
		// learn which event IDs a room holds.
		err = merr.NotFound("event not found")
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ce, err := a.format(r, s, se, false)
	if err == nil {
		err = a.bundle(r.Context(), s.UserID, ce)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, ce)
}

func (a *RoomAPI) format(r *http.Request, s *httpapi.Session, se *roomstore.StoredEvent, omitRoom bool) (*clientevent.Event, error) {
	o := clientevent.Options{NowMS: a.now().UnixMilli(), OmitRoomID: omitRoom}
	if se.TxnID != "" && se.Sender() == s.UserID && se.TxnDevice == s.DeviceID {
		o.TransactionID = se.TxnID
	}
	return syncapi.FormatStoredFor(r.Context(), a.Engine, se, o, s.UserID)
}

func (a *RoomAPI) formatAll(r *http.Request, s *httpapi.Session, evs []*roomstore.StoredEvent) ([]*clientevent.Event, error) {
	out := make([]*clientevent.Event, 0, len(evs))
	for _, se := range evs {
		ce, err := a.format(r, s, se, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ce)
	}
	return out, nil
}

func queryLimit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, httpapi.InvalidParam("limit must be a non-negative integer")
	}
	if n > max {
		n = max
	}
	return n, nil
}

// messages is GET /rooms/{roomId}/messages: pagination through the
// timeline by stream position ("s<pos>" tokens sit between events).
func (a *RoomAPI) messages(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	roomID := r.PathValue("roomId")
	acc, err := a.readAccess(r.Context(), roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	a.page(w, r, s, roomID, acc, false)
}

// adminMessages is Synapse's GET /_synapse/admin/v1/rooms/{roomId}/messages:
// the room's /messages for a server admin, who need not be in the room and
// sees every event (no history visibility applies), with the same
// parameters and answer.
func (a *RoomAPI) adminMessages(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !s.IsAdmin {
		httpapi.WriteError(w, merr.Forbidden("You are not a server admin"))
		return
	}
	roomID := r.PathValue("roomId")
	if _, err := a.Engine.Store().Room(r.Context(), roomID); err != nil {
		httpapi.WriteError(w, merr.NotFound("Room not found"))
		return
	}
	a.page(w, r, s, roomID, &access{UpTo: a.Engine.Stream().Current(), Joined: true}, true)
}

// page answers /messages for a reader whose access is acc; an admin's
// page skips history visibility.
func (a *RoomAPI) page(w http.ResponseWriter, r *http.Request, s *httpapi.Session, roomID string, acc *access, admin bool) {
	ctx := r.Context()
	q := r.URL.Query()
	var err error
	dir := q.Get("dir")
	if dir == "" {
		dir = "b"
	}
	if dir != "b" && dir != "f" {
		httpapi.WriteError(w, httpapi.InvalidParam("dir must be b or f"))
		return
	}
	limit, err := queryLimit(r, 10, 1000)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	filter, err := roomEventFilter(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	from := acc.UpTo
	if dir == "f" {
		from = beforeAll
	}
	if t := q.Get("from"); t != "" {
		if from, err = parsePageToken(t); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	to, hasTo := int64(0), false
	if t := q.Get("to"); t != "" {
		if to, err = parsePageToken(t); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		hasTo = true
	}
	if from > acc.UpTo {
		from = acc.UpTo
	}
	var evs []*roomstore.StoredEvent
	var end int64
	if dir == "b" {
		lower := beforeAll
		if hasTo {
			lower = to
		}
		evs, err = a.Engine.Store().RoomEvents(ctx, roomID, lower, from, limit, false)
		if err == nil && len(evs) < limit && !hasTo && a.History != nil {
			// We hold no more: ask servers in the room for what came
			// before (server-server-api "Backfilling and retrieving missing
			// events"), then read again, page after page (one /backfill
			// answers at most rooms.MaxBackfill events) until the client's
			// limit is met, nothing more comes, or backfillBudget is
			// spent. Failing that, the client gets what we have.
			// (The History implementation logs its failures.)
			bctx, cancel := context.WithTimeout(ctx, backfillBudget)
			for len(evs) < limit && err == nil && bctx.Err() == nil {
				n, berr := a.History.Backfill(bctx, roomID, limit-len(evs))
				if berr != nil || n == 0 {
					break
				}
				had := len(evs)
				evs, err = a.Engine.Store().RoomEvents(ctx, roomID, lower, from, limit, false)
				if len(evs) <= had {
					break // nothing new reached this page
				}
			}
			cancel()
		}
		if len(evs) > 0 {
			end = evs[len(evs)-1].StreamPos - 1
		}
	} else {
		upper := acc.UpTo
		if hasTo && to < upper {
			upper = to
		}
		evs, err = a.Engine.Store().RoomEvents(ctx, roomID, from, upper, limit, true)
		if len(evs) > 0 {
			end = evs[len(evs)-1].StreamPos
		}
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	hitEnd := len(evs) < limit
	visible := evs
	if !admin {
		if visible, err = a.Engine.FilterVisible(ctx, s.UserID, evs, acc.Joined); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	kept, err := a.keepFiltered(ctx, s.UserID, filter, roomID, visible)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	chunk, err := a.formatAll(r, s, kept)
	if err == nil {
		err = a.bundle(ctx, s.UserID, chunk...)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	resp := map[string]any{"chunk": chunk, "start": syncapi.Token(from)}
	if !hitEnd {
		resp["end"] = syncapi.Token(end)
	}
	if filter.LazyLoadMembers && len(kept) > 0 {
		st, err := a.lazyMembers(r, roomID, kept)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		resp["state"] = st
	}
	writeOK(w, resp)
}

// HistoryFetcher fetches a room's earlier history from other servers.
type HistoryFetcher interface {
	// Backfill fetches up to limit events from before the earliest ones we
	// hold and returns how many joined the timeline.
	Backfill(ctx context.Context, roomID string, limit int) (int, error)
	// NearTimestamp asks other servers in the room for the event closest
	// to ts (milliseconds) in the direction given, and makes it part of
	// our timeline; ok is false when none had one we could take.
	NearTimestamp(ctx context.Context, roomID string, ts int64, forward bool) (eventID string, originTS int64, ok bool)
}

// backfillBudget bounds the time one /messages request spends fetching
// history from other servers, over all the pages it needs.
const backfillBudget = 30 * time.Second

// beforeAll is a stream position below every event's: backfilled history
// has negative positions (roomstore/backfill.go), so pagination tokens may
// be negative too.
const beforeAll int64 = -1 << 62

// parsePageToken reads the room event position of a /messages or /context
// token: a pagination token ("s<pos>", where pos may be negative, unlike a
// /sync token's) or a /sync token, whose other streams pagination ignores.
func parsePageToken(tok string) (int64, error) {
	t, err := synctoken.Parse(tok, beforeAll)
	if err != nil {
		return 0, httpapi.InvalidParam("invalid pagination token")
	}
	return t.Room, nil
}

// roomEventFilter reads the filter query parameter of /messages and
// /context (a RoomEventFilter as JSON); absent, it filters nothing.
func roomEventFilter(r *http.Request) (syncapi.RoomEventFilter, error) {
	var filter syncapi.RoomEventFilter
	if f := r.URL.Query().Get("filter"); f != "" {
		if err := decodeFilter([]byte(f), &filter); err != nil {
			return filter, err
		}
	}
	return filter, nil
}

// keepFiltered keeps the events of roomID that pass filter; the
// related_by_* fields are asked of the relations index.
func (a *RoomAPI) keepFiltered(ctx context.Context, userID string, filter syncapi.RoomEventFilter, roomID string, evs []*roomstore.StoredEvent) ([]*roomstore.StoredEvent, error) {
	if !allowsRoomFilter(filter, roomID) {
		return nil, nil
	}
	// client-server-api "Ignoring Users": the ignored users' events are
	// left out, except state events.
	raw, err := a.AccountData.AccountData(ctx, userID, "", syncapi.IgnoredUserListType)
	if err != nil {
		return nil, err
	}
	ignored := syncapi.ParseIgnoredUsers(raw)
	kept := evs[:0]
	for _, se := range evs {
		if filter.AllowsEvent(se.Event) && (se.StateKey() != nil || !ignored[se.Sender()]) {
			kept = append(kept, se)
		}
	}
	if !filter.FiltersByRelations() || a.Relations == nil {
		return kept, nil
	}
	return a.Relations.KeepRelated(ctx, roomID, kept, filter.RelatedByRelTypes, filter.RelatedBySenders)
}

func allowsRoomFilter(f syncapi.RoomEventFilter, roomID string) bool {
	for _, r := range f.NotRooms {
		if r == roomID {
			return false
		}
	}
	if f.Rooms == nil {
		return true
	}
	for _, r := range *f.Rooms {
		if r == roomID {
			return true
		}
	}
	return false
}

// lazyMembers returns the member events of the senders of evs, as of the
// current state, for lazy-loading clients.
func (a *RoomAPI) lazyMembers(r *http.Request, roomID string, evs []*roomstore.StoredEvent) ([]*clientevent.Event, error) {
	view, err := a.Engine.CurrentView(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []*clientevent.Event{}
	now := a.now().UnixMilli()
	for _, se := range evs {
		if seen[se.Sender()] {
			continue
		}
		seen[se.Sender()] = true
		if m := view.Get(event.TypeMember, se.Sender()); m != nil {
			out = append(out, clientevent.Format(m, clientevent.Options{NowMS: now}))
		}
	}
	return out, view.Err()
}

// context is GET /rooms/{roomId}/context/{eventId}.
func (a *RoomAPI) context(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	se, acc, err := a.visibleEvent(r, s, roomID, r.PathValue("eventId"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	limit, err := queryLimit(r, 10, 100)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// The filter applies to events_before and events_after, as it does to
	// /messages' chunk (the events are filtered after they are read).
	filter, err := roomEventFilter(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	nBefore := limit / 2
	nAfter := limit - nBefore
	store := a.Engine.Store()
	before, err := store.RoomEvents(ctx, roomID, beforeAll, se.StreamPos-1, nBefore, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	after, err := store.RoomEvents(ctx, roomID, se.StreamPos, acc.UpTo, nAfter, true)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	start, end := se.StreamPos-1, se.StreamPos
	if len(before) > 0 {
		start = before[len(before)-1].StreamPos - 1
	}
	if len(after) > 0 {
		end = after[len(after)-1].StreamPos
	}
	if before, err = a.Engine.FilterVisible(ctx, s.UserID, before, acc.Joined); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if after, err = a.Engine.FilterVisible(ctx, s.UserID, after, acc.Joined); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if before, err = a.keepFiltered(ctx, s.UserID, filter, roomID, before); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if after, err = a.keepFiltered(ctx, s.UserID, filter, roomID, after); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	last := se
	if len(after) > 0 {
		last = after[len(after)-1]
	}
	stView, err := a.Engine.StateAfter(ctx, last)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var keep func(event.StateTuple) bool
	if filter.LazyLoadMembers {
		// Only the members who sent the events returned
		// (client-server-api "Lazy-loading room members").
		senders := map[string]bool{se.Sender(): true}
		for _, evs := range [][]*roomstore.StoredEvent{before, after} {
			for _, e := range evs {
				senders[e.Sender()] = true
			}
		}
		keep = func(t event.StateTuple) bool { return t.Type != event.TypeMember || senders[t.StateKey] }
	}
	stEvs, err := stView.Events(keep)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	state := a.formatState(stEvs)
	evOut, err := a.format(r, s, se, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	bOut, err := a.formatAll(r, s, before)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	aOut, err := a.formatAll(r, s, after)
	if err == nil {
		err = a.bundle(ctx, s.UserID, append(append([]*clientevent.Event{evOut}, bOut...), aOut...)...)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	writeOK(w, map[string]any{"event": evOut, "events_before": bOut, "events_after": aOut, "state": state,
		"start": syncapi.Token(start), "end": syncapi.Token(end)})
}

// members is GET /rooms/{roomId}/members.
func (a *RoomAPI) members(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	at := acc.UpTo
	if t := q.Get("at"); t != "" {
		// Any pagination token: a sync prev_batch, as rooms.yaml says, or
		// a /messages token, which may lie before the room's first event.
		if at, err = parsePageToken(t); err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if at > acc.UpTo {
			at = acc.UpTo
		}
		if at, err = a.afterCreatorJoin(ctx, roomID, at, acc.UpTo); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	view, err := a.Engine.StateAtPos(ctx, roomID, at)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	evs, err := view.Events(func(t event.StateTuple) bool { return t.Type == event.TypeMember })
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	want, notWant := q.Get("membership"), q.Get("not_membership")
	now := a.now().UnixMilli()
	chunk := []*clientevent.Event{}
	for _, ev := range evs {
		m := ev.Membership()
		if (want != "" && m != want) || (notWant != "" && m == notWant) {
			continue
		}
		chunk = append(chunk, clientevent.Format(ev, clientevent.Options{NowMS: now}))
	}
	sort.Slice(chunk, func(i, j int) bool { return *chunk[i].StateKey < *chunk[j].StateKey })
	writeOK(w, map[string]any{"chunk": chunk})
}

// afterCreatorJoin moves a position before the creator's join in a room
// we hold from its creation up to that join. The earliest tokens of a room
// (an initial sync's prev_batch when its whole history fits, or /messages
// paged to the start) lie before m.room.create, where the state is empty;
// but a room never has members before its creator's join, which is part of
// its creation, so members?at such a token answers the room's first
// membership rather than an empty list. Rooms joined over federation
// without their creation events are left alone.
func (a *RoomAPI) afterCreatorJoin(ctx context.Context, roomID string, at, upTo int64) (int64, error) {
	// The creator's join is the second event; a few more cover servers
	// that order the creation events differently.
	first, err := a.Engine.Store().RoomEvents(ctx, roomID, beforeAll, upTo, 4, true)
	if err != nil || len(first) == 0 || first[0].Type() != event.TypeCreate {
		return at, err
	}
	for _, se := range first {
		if se.Type() == event.TypeMember && se.StateKey() != nil && *se.StateKey() == first[0].Sender() {
			if at < se.StreamPos {
				at = se.StreamPos
			}
			break
		}
	}
	return at, nil
}

// joinedMembers is GET /rooms/{roomId}/joined_members.
func (a *RoomAPI) joinedMembers(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	// "The current user must be in the room for it to work": unlike
	// /members, a user who left (or a reader of a world_readable room)
	// gets 403, as Synapse answers.
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err == nil && !acc.Joined {
		err = merr.Forbidden("you must be a member of the room to list its joined members")
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	view, err := a.stateView(ctx, roomID, acc)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	evs, err := view.Events(func(t event.StateTuple) bool { return t.Type == event.TypeMember })
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	// Both keys are always present, null when the member event has none,
	// as Synapse sends them: clients read them without checking for them.
	type member struct {
		DisplayName *string `json:"display_name"`
		AvatarURL   *string `json:"avatar_url"`
	}
	joined := map[string]member{}
	for _, ev := range evs {
		if ev.Membership() != event.Join {
			continue
		}
		var c struct {
			DisplayName *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		_ = httpapi.DecodeJSON(ev.Content(), &c)
		joined[*ev.StateKey()] = member{DisplayName: c.DisplayName, AvatarURL: c.AvatarURL}
	}
	writeOK(w, map[string]any{"joined": joined})
}

// joinedRooms is GET /joined_rooms.
func (a *RoomAPI) joinedRooms(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ms, err := a.Engine.Store().RoomsForUser(r.Context(), s.UserID, event.Join)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.RoomID)
	}
	sort.Strings(out)
	writeOK(w, map[string]any{"joined_rooms": out})
}

// timestampToEvent is GET /rooms/{roomId}/timestamp_to_event.
func (a *RoomAPI) timestampToEvent(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	ctx := r.Context()
	roomID := r.PathValue("roomId")
	q := r.URL.Query()
	acc, err := a.readAccess(ctx, roomID, s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		httpapi.WriteError(w, httpapi.InvalidParam("ts must be an integer"))
		return
	}
	dir := q.Get("dir")
	if dir != "f" && dir != "b" {
		httpapi.WriteError(w, httpapi.InvalidParam("dir must be f or b"))
		return
	}
	forward := dir == "f"
	se, err := a.Engine.Store().EventNearTS(ctx, roomID, ts, forward, acc.UpTo)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	eventID, originTS := "", int64(0)
	if se != nil {
		eventID, originTS = se.EventID(), se.OriginServerTS()
	}
	// Other servers may hold a closer event when ours is missing or sits
	// next to a gap in what we hold (server-server-api "GET
	// /timestamp_to_event" leaves the heuristic to us). Asked for members
	// only: others must not be able to make us query other servers.
	if a.History != nil && acc.Joined && (se == nil || a.gapBeside(ctx, se, forward, acc.UpTo)) {
		if id, ots, ok := a.History.NearTimestamp(ctx, roomID, ts, forward); ok && (se == nil || closer(ts, ots, originTS)) {
			eventID, originTS = id, ots
		}
	}
	if eventID == "" {
		httpapi.WriteError(w, merr.NotFound("no event found in that direction"))
		return
	}
	writeOK(w, map[string]any{"event_id": eventID, "origin_server_ts": originTS})
}

// closer reports whether a lies strictly nearer ts than b.
func closer(ts, a, b int64) bool {
	d := func(x int64) int64 {
		if x > ts {
			return x - ts
		}
		return ts - x
	}
	return d(a) < d(b)
}

// gapBeside reports whether events closer to the asked time than se may
// be missing here: for dir=f they would come right before se, for dir=b
// right before the next event we hold after it.
func (a *RoomAPI) gapBeside(ctx context.Context, se *roomstore.StoredEvent, forward bool, upTo int64) bool {
	if forward {
		return a.nextToGap(ctx, se)
	}
	next, err := a.Engine.Store().EventNearTS(ctx, se.RoomID(), se.OriginServerTS()+1, true, upTo)
	return err == nil && next != nil && a.nextToGap(ctx, next)
}

// nextToGap reports whether events may be missing right before se: it is
// not the room's create event and one of its prev events is not in our
// timeline (we joined after it, or missed it).
func (a *RoomAPI) nextToGap(ctx context.Context, se *roomstore.StoredEvent) bool {
	if se.Type() == event.TypeCreate {
		return false
	}
	for _, p := range se.PrevEventIDs() {
		prev, err := a.Engine.Store().Event(ctx, p)
		if err != nil || prev.Outlier {
			return true
		}
	}
	return false
}

// formatState renders state events (no transaction IDs or redaction lookups
// apply to state served as a set).
func (a *RoomAPI) formatState(evs []*event.Event) []*clientevent.Event {
	now := a.now().UnixMilli()
	out := make([]*clientevent.Event, 0, len(evs))
	for _, ev := range evs {
		out = append(out, clientevent.Format(ev, clientevent.Options{NowMS: now}))
	}
	return out
}
