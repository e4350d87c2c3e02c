// Package syncapi assembles GET /sync responses: initial and incremental,
// long-polling until something the user can see changes. Tokens are stream
// positions ("s<pos>"), so they survive restarts.
package syncapi

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/myelin-chat/myelin/internal/clientevent"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/invitepermission"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/synctoken"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// AccountDataItem is one account data entry; RoomID is "" for global data.
type AccountDataItem struct {
	RoomID  string
	Type    string
	Content json.RawMessage
}

// AccountDataSource reads account data changed in (from, to] (from = 0
// means everything).
type AccountDataSource interface {
	AccountDataSince(ctx context.Context, userID string, from, to int64) ([]AccountDataItem, error)
}

// Syncer builds sync responses.
type Syncer struct {
	rooms       *rooms.Engine
	accountData AccountDataSource
	now         func() time.Time
	stopOnce    sync.Once
	stopping    chan struct{}
	summaries   summaryCache
	initial     initialFlights
	release     releaser
	streams     []Stream
	keyCounts   DeviceKeyCounts
	ignored     IgnoredUsersSource
	bundler     Bundler
	tracker     SyncTracker
	unread      UnreadCounter
	// ignoredCache shares users' ignored lists between their syncs at one
	// room stream position.
	ignoredCache *ignoredCache
	// invitePermission hides invites from users who block them; nil:
	// nobody does.
	invitePermission *invitepermission.Checker
	// buildObserver, when set, is told how long each response took to
	// build (metrics); long-poll waiting is not included.
	buildObserver func(initial bool, took time.Duration)
}

// ObserveBuilds has fn told how long each /sync response took to build,
// apart from any time spent waiting for news. Set before serving.
func (s *Syncer) ObserveBuilds(fn func(initial bool, took time.Duration)) { s.buildObserver = fn }

// Stop makes waiting and future long-polls return at once (server shutdown).
func (s *Syncer) Stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Stopping is closed when the server stops, so that other long polls
// (peeking /events) answer at once too.
func (s *Syncer) Stopping() <-chan struct{} { return s.stopping }

// New returns a Syncer.
func New(engine *rooms.Engine, ad AccountDataSource, now func() time.Time) *Syncer {
	if now == nil {
		now = time.Now
	}
	return &Syncer{rooms: engine, accountData: ad, now: now, stopping: make(chan struct{}),
		ignoredCache: NewTaggedCache[int64, map[string]bool](maxIgnoredCached)}
}

// Request is a parsed GET /sync.
type Request struct {
	UserID, DeviceID string
	Since            string
	Timeout          time.Duration
	FullState        bool
	Filter           *Filter
	// SetPresence is the set_presence parameter: "" (online), online,
	// unavailable or offline.
	SetPresence string
	// UseStateAfter asks for state_after (the state up to the end of each
	// timeline) instead of state (up to its start); spec v1.16.
	UseStateAfter bool

	// ign is the syncing user's ignored users, read at most once per
	// sync (build sets it).
	ign *ignoredShare
}

// ignoredUsers returns the users req's user ignores (never nil).
func (s *Syncer) ignoredUsers(ctx context.Context, req Request) (map[string]bool, error) {
	sr := &StreamSync{Req: req, ignored: req.ign}
	return sr.Ignored(ctx)
}

// MaxTimeout bounds long-polling whatever the client asks.
const MaxTimeout = 5 * time.Minute

// ParseToken reads the room event position of a sync or pagination token
// (package synctoken): pagination reads only that part, so a /sync
// next_batch may be handed to /messages.
func ParseToken(tok string) (int64, error) {
	t, err := synctoken.Parse(tok, 0)
	if err != nil {
		return 0, merr.InvalidParam("invalid token")
	}
	return t.Room, nil
}

// Token formats a room event stream position as a pagination token.
func Token(pos int64) string { return synctoken.Token{Room: pos}.String() }

// Sync answers one request, waiting up to Timeout for news when the client
// gave a since token.
func (s *Syncer) Sync(ctx context.Context, req Request) (*Response, error) {
	if s.tracker != nil {
		done, err := s.tracker.Syncing(ctx, req.UserID, req.SetPresence)
		if err != nil {
			return nil, err
		}
		defer done()
	}
	var since position
	if req.Since != "" {
		var err error
		if since, err = s.parseSince(req.Since); err != nil {
			return nil, err
		}
		if err := s.ackStreams(ctx, req, since); err != nil {
			return nil, err
		}
	} else {
		since = position{streams: make([]int64, len(s.streams))}
	}
	timeout := req.Timeout
	if timeout > MaxTimeout {
		timeout = MaxTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		// Listen before reading, so a commit between the read and the
		// wait still wakes us.
		wake := s.rooms.Notifier().Listen(req.UserID)
		if s.unread != nil {
			s.unread.CatchUp(ctx, s.rooms.Stream().Current())
		}
		upto := s.current()
		// A token from the future (e.g. after a restore): answer from now.
		since.clamp(upto)
		start := time.Now()
		resp, err := s.build(ctx, req, since, upto)
		if err != nil {
			return nil, err
		}
		if s.buildObserver != nil {
			s.buildObserver(req.Since == "", time.Since(start))
		}
		if req.Since == "" || req.FullState || !resp.empty() || timeout <= 0 {
			return resp, nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return resp, nil
		case <-ctx.Done():
			return resp, nil
		case <-s.stopping:
			return resp, nil
		}
	}
}

func (s *Syncer) build(ctx context.Context, req Request, sincePos, uptoPos position) (*Response, error) {
	resp := newResponse()
	resp.NextBatch = s.token(uptoPos)
	f := req.Filter
	if f == nil {
		f = &Filter{}
	}
	since, upto := sincePos.room, uptoPos.room
	// Initial means "no token", not "room position 0": on a new server a
	// token may carry room position 0 with news in other streams, and
	// treating it as initial would send those streams' whole contents
	// again and again (and answer every long-poll at once).
	initial := req.Since == ""
	store := s.rooms.Store()
	req.ign = &ignoredShare{src: s.ignored, cache: s.ignoredCache, pos: upto}

	// The three reads below are independent; on PostgreSQL each is a
	// network round trip, so they overlap. When the room stream did not
	// move (a sync woken by typing, receipts, presence...), no room has
	// new events and no account data changed (it shares the room
	// stream): (since, upto] is empty, so neither is read.
	roomMoved := upto > since
	var (
		memberships []roomstore.Membership
		before      map[string]string
		active      map[string]bool // rooms with new events, for incremental syncs
		items       []AccountDataItem
	)
	err := parallel(
		func() (err error) {
			if memberships, err = store.MembershipsAt(ctx, req.UserID, upto); err != nil || initial {
				return err
			}
			before, err = membershipsBefore(ctx, store, req.UserID, since)
			return err
		},
		func() (err error) {
			if !initial && roomMoved {
				active, err = store.RoomsWithEvents(ctx, since, upto)
			}
			return err
		},
		func() (err error) {
			if s.accountData != nil && (initial || roomMoved) {
				items, err = s.accountData.AccountDataSince(ctx, req.UserID, since, upto)
			}
			return err
		},
	)
	if err != nil {
		return nil, err
	}

	var roomAD map[string][]json.RawMessage
	if s.accountData != nil {
		roomAD = map[string][]json.RawMessage{}
		for _, it := range items {
			raw, _ := json.Marshal(map[string]any{"type": it.Type, "content": it.Content})
			if it.RoomID == "" {
				if f.AccountData.Allows(it.Type, "") {
					resp.AccountData.Events = append(resp.AccountData.Events, raw)
				}
			} else if f.Room.AccountData.Allows(it.Type, "") {
				roomAD[it.RoomID] = append(roomAD[it.RoomID], raw)
			}
		}
	}

	var joins []joinTask
	// Whether the user blocks invites, read once per sync at the first
	// invite (client-server-api "Invite permission": invites of a user who
	// blocks them "MUST NOT be served" by /sync; they stay stored, so an
	// initial sync after the user unblocks shows them again).
	var invitesBlocked *bool
	for _, m := range memberships {
		if !allowsRoom(f.Room.Rooms, f.Room.NotRooms, m.RoomID) {
			continue
		}
		changed := initial || before[m.RoomID] != m.Membership || m.StreamPos > since
		switch m.Membership {
		case event.Join:
			fresh := initial || req.FullState || before[m.RoomID] != event.Join
			if !fresh && !active[m.RoomID] && len(roomAD[m.RoomID]) == 0 {
				continue // nothing new in this room
			}
			joins = append(joins, joinTask{m: m, fresh: fresh})
		case event.Invite:
			if changed && invitesBlocked == nil {
				blocked, err := s.invitePermission.Blocked(ctx, req.UserID)
				if err != nil {
					return nil, err
				}
				invitesBlocked = &blocked
			}
			if changed && !*invitesBlocked {
				ir, err := s.invitedRoom(ctx, m)
				if err != nil {
					return nil, err
				}
				// client-server-api "Ignoring Users": "Servers must not
				// send room invites from ignored users to clients."
				ignored, err := s.ignoredUsers(ctx, req)
				if err != nil {
					return nil, err
				}
				if !ignored[ir.sender] {
					resp.Rooms.Invite[m.RoomID] = ir
				}
			}
		case event.Knock:
			if changed {
				kr := &KnockedRoom{}
				ir, err := s.invitedRoom(ctx, m)
				if err != nil {
					return nil, err
				}
				kr.KnockState.Events = ir.InviteState.Events
				resp.Rooms.Knock[m.RoomID] = kr
			}
		case event.Leave, event.Ban:
			// Left rooms appear once, when the change happens; initial syncs
			// include them only on request (filter include_leave), and
			// never once forgotten. An incremental sync still shows a
			// leave made since its token, forgotten or not (as Synapse's
			// does): with forget_rooms_on_leave every leave is forgotten
			// as it is stored, and a client must still learn it left.
			if (initial && f.Room.IncludeLeave) || (!initial && changed && before[m.RoomID] != "") {
				if initial {
					forgotten, err := s.rooms.Store().Forgotten(ctx, req.UserID, m.RoomID)
					if err != nil {
						return nil, err
					}
					if forgotten {
						continue
					}
				}
				lr, err := s.leftRoom(ctx, req, f, m, since)
				if err != nil {
					return nil, err
				}
				resp.Rooms.Leave[m.RoomID] = lr
			}
		}
	}
	if err := s.joinedRooms(ctx, req, f, joins, since, upto); err != nil {
		return nil, err
	}
	var joined []string
	for _, m := range memberships {
		if m.Membership == event.Join && allowsRoom(f.Room.Rooms, f.Room.NotRooms, m.RoomID) {
			joined = append(joined, m.RoomID)
		}
	}
	for _, j := range joins {
		jr := j.out
		if ad := roomAD[j.m.RoomID]; len(ad) > 0 {
			jr.AccountData.Events = ad
		}
		if j.fresh || len(jr.Timeline.Events) > 0 || jr.stateLen() > 0 || len(jr.AccountData.Events) > 0 {
			resp.Rooms.Join[j.m.RoomID] = jr
		}
	}
	if err := s.syncStreams(ctx, resp, req, f, joined, sincePos, uptoPos, initial || req.FullState); err != nil {
		return nil, err
	}
	resp.NextBatch = s.token(uptoPos) // a stream may have bounded its part
	if req.UseStateAfter {
		useStateAfter(resp)
	}
	if err := s.addUnreadCounts(ctx, req, f, resp); err != nil {
		return nil, err
	}
	if err := s.addKeyCounts(ctx, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// parallel runs fns at once and returns the first error (by position). A
// panic becomes an error, as on the request's own goroutine the HTTP
// server's recovery would have made it.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("syncapi: %v", r)
				}
			}()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// joinTask is a joined room whose section a sync builds.
type joinTask struct {
	m     roomstore.Membership
	fresh bool
	out   *JoinedRoom
	// Read ahead for a batch of rooms (see prefetch), when read is set.
	read bool
	evs  []*roomstore.StoredEvent // newest first, up to the limit + 1
	sum  *roomstore.MemberSummary // fresh rooms only
}

// joinWorkers bounds how many joined-room sections one sync builds at once.
// Each section is a handful of queries, and on PostgreSQL most of their time
// is network round trips, which overlap; on SQLite the reader pool lets them
// run side by side. Three leave a connection of the smallest pool (SQLite's
// four readers) to other requests while a big initial sync runs.
const joinWorkers = 3

// joinedRooms builds the sections of tasks, several at once, each into its
// task's out; it returns the first error.
func (s *Syncer) joinedRooms(ctx context.Context, req Request, f *Filter, tasks []joinTask, since, upto int64) error {
	if len(tasks) <= 1 {
		for i := range tasks {
			jr, err := s.joinedRoom(ctx, req, f, &tasks[i], since, upto)
			if err != nil {
				return err
			}
			tasks[i].out = jr
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Workers take the rooms in batches, reading each batch's events and
	// summaries in a few statements, then build its rooms one by one.
	workers := min(joinWorkers, len(tasks))
	batch := min(roomstore.MaxBatchRooms, (len(tasks)+workers-1)/workers)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(batch))) - batch
				if lo >= len(tasks) || ctx.Err() != nil {
					return
				}
				chunk := tasks[lo:min(lo+batch, len(tasks))]
				if err := s.prefetch(ctx, f, chunk, since, upto); err != nil {
					fail(err)
					return
				}
				for i := range chunk {
					jr, err := s.joinedRoomSafe(ctx, req, f, &chunk[i], since, upto)
					if err != nil {
						fail(err)
						return
					}
					chunk[i].out = jr
					chunk[i].evs, chunk[i].sum = nil, nil // built: let them go
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// prefetch reads the latest events of a batch of rooms, and the member
// summaries of the fresh ones, in a few statements rather than a few per
// room: for a user in 5 000 rooms, per-room queries dominated the initial
// sync.
func (s *Syncer) prefetch(ctx context.Context, f *Filter, tasks []joinTask, since, upto int64) error {
	store := s.rooms.Store()
	var fresh, other []string
	for _, t := range tasks {
		if t.fresh {
			fresh = append(fresh, t.m.RoomID)
		} else {
			other = append(other, t.m.RoomID)
		}
	}
	limit := f.TimelineLimit()
	freshEvs, err := store.LatestEvents(ctx, fresh, 0, upto, limit+1)
	if err != nil {
		return err
	}
	otherEvs, err := store.LatestEvents(ctx, other, since, upto, limit+1)
	if err != nil {
		return err
	}
	sums, err := store.MemberSummaries(ctx, fresh)
	if err != nil {
		return err
	}
	for i := range tasks {
		t := &tasks[i]
		t.read = true
		if t.fresh {
			t.evs, t.sum = freshEvs[t.m.RoomID], sums[t.m.RoomID]
		} else {
			t.evs = otherEvs[t.m.RoomID]
		}
	}
	return nil
}

// membershipsBefore maps room ID → the user's membership at stream position
// since. When no membership changed after since, the store answers from the
// memberships just read for the end of the range, without a query.
func membershipsBefore(ctx context.Context, store *roomstore.Store, userID string, since int64) (map[string]string, error) {
	prev, err := store.MembershipsAt(ctx, userID, since)
	if err != nil {
		return nil, err
	}
	before := make(map[string]string, len(prev))
	for _, p := range prev {
		before[p.RoomID] = p.Membership
	}
	return before, nil
}

// joinedRoomSafe is joinedRoom for a worker goroutine: a panic becomes an
// error, as the HTTP server's recovery would have made it on the request's
// own goroutine, instead of ending the process.
func (s *Syncer) joinedRoomSafe(ctx context.Context, req Request, f *Filter, t *joinTask, since, upto int64) (jr *JoinedRoom, err error) {
	defer func() {
		if r := recover(); r != nil {
			jr, err = nil, fmt.Errorf("syncapi: building room %s panicked: %v", t.m.RoomID, r)
		}
	}()
	return s.joinedRoom(ctx, req, f, t, since, upto)
}

// joinedRoom builds one joined room's section. fresh rooms (initial sync,
// full_state, or newly joined) get their full state at the start of the
// timeline; others get the events since the token.
func (s *Syncer) joinedRoom(ctx context.Context, req Request, f *Filter, t *joinTask, since, upto int64) (*JoinedRoom, error) {
	m, fresh := t.m, t.fresh
	limit := f.TimelineLimit()
	from := since
	if fresh {
		from = 0
	}
	// Newest first, one more than needed to learn whether we are limited.
	evs, err := t.evs, error(nil)
	if !t.read {
		if evs, err = s.rooms.Store().RoomEvents(ctx, m.RoomID, from, upto, limit+1, false); err != nil {
			return nil, err
		}
	}
	limited := len(evs) > limit
	if limited {
		evs = evs[:limit]
	}
	evs, limited = cutAtGap(evs, limited, fresh)
	reverse(evs)
	states, err := s.rooms.TimelineStates(ctx, evs)
	if err != nil {
		return nil, err
	}
	visible, err := states.Visible(ctx, req.UserID, evs, true)
	if err != nil {
		return nil, err
	}
	jr := newJoinedRoom()
	jr.Timeline.Limited = limited
	if len(evs) > 0 {
		jr.Timeline.PrevBatch = Token(evs[0].StreamPos - 1)
	} else {
		jr.Timeline.PrevBatch = Token(upto)
	}
	now := s.now().UnixMilli()
	senders := map[string]bool{}
	ignored, err := s.ignoredUsers(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, se := range visible {
		if !f.Room.Timeline.AllowsEvent(se.Event) {
			continue
		}
		// client-server-api "Ignoring Users": the ignored users' events
		// are left out, except state events.
		if ignored[se.Sender()] && se.StateKey() == nil {
			continue
		}
		senders[se.Sender()] = true
		ce, err := s.format(ctx, req, se, now, states.Before(se))
		if err != nil {
			return nil, err
		}
		jr.Timeline.Events = append(jr.Timeline.Events, ce)
	}
	if err := states.Err(); err != nil { // a prev_content lookup failed
		return nil, err
	}
	// Only a limited timeline gets bundled aggregations (client-server-api
	// "Aggregations of child events"): otherwise the client has seen, or
	// sees here, every child event and aggregates them itself.
	if limited && s.bundler != nil {
		if err := s.bundler.Bundle(ctx, req.UserID, jr.Timeline.Events); err != nil {
			return nil, err
		}
	}

	// The summary may be left out when it has not changed (client-server-api
	// "/sync": "only needs to be present if it changed"): it is computed for
	// fresh rooms, limited timelines (whose state may hold member changes)
	// and timelines with member events.
	timelineMembers := map[string]bool{}
	for _, ce := range jr.Timeline.Events {
		if ce.Type == event.TypeMember && ce.StateKey != nil {
			timelineMembers[*ce.StateKey] = true
		}
	}
	var heroes []string
	if fresh || limited || len(timelineMembers) > 0 {
		sum, err := s.summary(ctx, m.RoomID, req.UserID, upto, t.sum)
		if err != nil {
			return nil, err
		}
		jr.Summary = sum
		heroes = sum.Heroes
	}
	lazy := f.Room.State.LazyLoadMembers
	// Members whose member events lazy loading sends: the timeline's
	// senders and the heroes (client-server-api "Lazy-loading room
	// members"; m.heroes).
	wanted := make(map[string]bool, len(senders)+len(heroes))
	for u := range senders {
		wanted[u] = true
	}
	for _, u := range heroes {
		wanted[u] = true
	}

	// State: the full state at the start of the timeline for fresh rooms;
	// for a limited incremental sync, what changed between the token and
	// the timeline start; otherwise nothing (the timeline carries it),
	// except, when members are lazy-loaded, the wanted members' events that
	// the timeline does not hold. Without a record of which member events
	// each device already has, those may be sent again: the spec allows
	// redundant member events, it only asks servers to avoid them.
	if req.UseStateAfter {
		// state_after holds every change between the token and the end of
		// the timeline, state events of the timeline included, so it is
		// needed whether or not the timeline is limited.
		end, err := s.endOfTimeline(ctx, m.RoomID, evs, upto)
		if err != nil {
			return nil, err
		}
		stateEvs, err := s.stateDelta(ctx, m.RoomID, fresh, since, end, func(t event.StateTuple) bool {
			return !lazy || t.Type != event.TypeMember || wanted[t.StateKey] || t.StateKey == req.UserID
		}, lazy && !fresh, wanted)
		if err != nil {
			return nil, err
		}
		jr.State, jr.StateAfter = nil, &ClientEvents{Events: []*clientevent.Event{}}
		s.appendState(jr.StateAfter, f, stateEvs, now)
		return jr, nil
	}
	var extra []string // members whose events an incremental lazy sync adds
	if lazy && !fresh && !limited {
		for u := range wanted {
			if !timelineMembers[u] && u != req.UserID {
				extra = append(extra, u)
			}
		}
	}
	if !fresh && !limited && len(extra) == 0 {
		return jr, nil
	}
	var start *rooms.StateView
	if len(evs) > 0 {
		start, err = s.rooms.StateBefore(ctx, evs[0])
	} else {
		start, err = s.rooms.StateAtPos(ctx, m.RoomID, upto)
	}
	if err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		var stateEvs []*event.Event
		for _, u := range extra {
			if ev := start.Get(event.TypeMember, u); ev != nil {
				stateEvs = append(stateEvs, ev)
			}
		}
		if err := start.Err(); err != nil {
			return nil, err
		}
		s.appendState(jr.State, f, stateEvs, now)
		return jr, nil
	}
	var old *rooms.StateView
	if !fresh {
		if old, err = s.rooms.StateAtPos(ctx, m.RoomID, since); err != nil {
			return nil, err
		}
	}
	stateEvs, err := start.Events(func(t event.StateTuple) bool {
		if old != nil && old.IDs[t] == start.IDs[t] {
			return false
		}
		return !lazy || t.Type != event.TypeMember || wanted[t.StateKey] || t.StateKey == req.UserID
	})
	if err != nil {
		return nil, err
	}
	s.appendState(jr.State, f, stateEvs, now)
	return jr, nil
}

// appendState adds state events to a room's state (or state_after)
// section, in a stable order, as the filter allows.
func (s *Syncer) appendState(into *ClientEvents, f *Filter, stateEvs []*event.Event, now int64) {
	sortState(stateEvs)
	for _, ev := range stateEvs {
		if f.Room.State.AllowsEvent(ev) {
			into.Events = append(into.Events, clientevent.Format(ev, clientevent.Options{NowMS: now, OmitRoomID: true}))
		}
	}
}

// useStateAfter gives every room section that has none yet an empty
// state_after in place of state (rooms present for their ephemeral events
// or account data only): the spec requires the field with
// use_state_after, even when empty, and forbids state.
func useStateAfter(resp *Response) {
	for _, jr := range resp.Rooms.Join {
		if jr.StateAfter == nil {
			jr.State, jr.StateAfter = nil, &ClientEvents{Events: []*clientevent.Event{}}
		}
	}
	for _, lr := range resp.Rooms.Leave {
		if lr.StateAfter == nil {
			lr.State, lr.StateAfter = nil, &ClientEvents{Events: []*clientevent.Event{}}
		}
	}
}

// endOfTimeline is the room's state after the last event of a timeline
// slice (evs, oldest first), or at upto when the slice is empty.
func (s *Syncer) endOfTimeline(ctx context.Context, roomID string, evs []*roomstore.StoredEvent, upto int64) (*rooms.StateView, error) {
	if len(evs) > 0 {
		return s.rooms.StateAfter(ctx, evs[len(evs)-1])
	}
	return s.rooms.StateAtPos(ctx, roomID, upto)
}

// stateDelta returns the state events of at that keep accepts and that
// differ from the state at since (all of them when fresh). With
// alsoWanted, the members in wanted are included even when unchanged:
// lazy-loading clients get the members of the senders they are shown.
func (s *Syncer) stateDelta(ctx context.Context, roomID string, fresh bool, since int64, at *rooms.StateView,
	keep func(event.StateTuple) bool, alsoWanted bool, wanted map[string]bool) ([]*event.Event, error) {
	var old *rooms.StateView
	if !fresh {
		var err error
		if old, err = s.rooms.StateAtPos(ctx, roomID, since); err != nil {
			return nil, err
		}
	}
	return at.Events(func(t event.StateTuple) bool {
		if !keep(t) {
			return false
		}
		if old == nil || old.IDs[t] != at.IDs[t] {
			return true
		}
		return alsoWanted && t.Type == event.TypeMember && wanted[t.StateKey]
	})
}

// cutAtGap trims a timeline (newest first) at a hole in the history and
// says whether it is limited. A timeline must not run across events we
// never got: it starts at the newest event received after a gap (one whose
// prev events could not be fetched), and is limited, so the client drops
// what it showed before and pages back with prev_batch (client-server-api,
// "Syncing": limited means there are earlier events to fetch). A fresh
// timeline (initial sync, newly joined room) that does not reach back to
// the room's creation is limited for the same reason: history before it
// is there to page, or to backfill from other servers, as after a join
// over federation. Synapse also reports every newly joined room as
// limited.
func cutAtGap(evs []*roomstore.StoredEvent, limited, fresh bool) ([]*roomstore.StoredEvent, bool) {
	for i, se := range evs {
		if se.AfterGap {
			return evs[:i+1], true
		}
	}
	if fresh && !limited && len(evs) > 0 && evs[len(evs)-1].Type() != event.TypeCreate {
		return evs, true
	}
	return evs, limited
}

func (s *Syncer) leftRoom(ctx context.Context, req Request, f *Filter, m roomstore.Membership, since int64) (*LeftRoom, error) {
	lr := &LeftRoom{State: &ClientEvents{Events: []*clientevent.Event{}}}
	lr.AccountData.Events = []json.RawMessage{}
	// The timeline ends at the user's leave: they may not see beyond it.
	limit := f.TimelineLimit()
	evs, err := s.rooms.Store().RoomEvents(ctx, m.RoomID, since, m.StreamPos, limit+1, false)
	if err != nil {
		return nil, err
	}
	limited := len(evs) > limit
	if limited {
		evs = evs[:limit]
	}
	evs, limited = cutAtGap(evs, limited, since == 0)
	reverse(evs)
	visible, err := s.rooms.FilterVisible(ctx, req.UserID, evs, false)
	if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	lr.Timeline.Events = []*clientevent.Event{}
	lr.Timeline.Limited = limited
	for _, se := range visible {
		ce, err := s.format(ctx, req, se, now, nil)
		if err != nil {
			return nil, err
		}
		lr.Timeline.Events = append(lr.Timeline.Events, ce)
	}
	if len(evs) > 0 {
		lr.Timeline.PrevBatch = Token(evs[0].StreamPos - 1)
	}
	// State as for a joined room (client-server-api "/sync", Left Room):
	// up to the start of the timeline, or with use_state_after up to its
	// end, the leave; all of it in a fresh sync (no token, or full_state),
	// else what changed since the token.
	fresh := since == 0 || req.FullState
	var at *rooms.StateView
	switch {
	case req.UseStateAfter:
		at, err = s.endOfTimeline(ctx, m.RoomID, evs, m.StreamPos)
	case len(evs) > 0:
		at, err = s.rooms.StateBefore(ctx, evs[0])
	case fresh:
		at, err = s.rooms.StateAtPos(ctx, m.RoomID, m.StreamPos)
	default:
		return lr, nil // nothing changed that the user may see
	}
	if err != nil {
		return nil, err
	}
	lazy := f.Room.State.LazyLoadMembers
	senders := map[string]bool{req.UserID: true}
	for _, ce := range lr.Timeline.Events {
		senders[ce.Sender] = true
	}
	stateEvs, err := s.stateDelta(ctx, m.RoomID, fresh, since, at, func(t event.StateTuple) bool {
		return !lazy || t.Type != event.TypeMember || senders[t.StateKey]
	}, false, nil)
	if err != nil {
		return nil, err
	}
	into := lr.State
	if req.UseStateAfter {
		lr.State, lr.StateAfter = nil, &ClientEvents{Events: []*clientevent.Event{}}
		into = lr.StateAfter
	}
	s.appendState(into, f, stateEvs, now)
	return lr, nil
}

func (s *Syncer) invitedRoom(ctx context.Context, m roomstore.Membership) (*InvitedRoom, error) {
	ir := &InvitedRoom{}
	ir.InviteState.Events = []clientevent.StrippedEvent{}
	se, err := s.rooms.Store().Event(ctx, m.EventID)
	if err != nil {
		return nil, err
	}
	ir.sender = se.Sender()
	// An invite from another server to a room we are not in carries the
	// inviter's stripped state; servers must prune it to the stripped
	// schema before passing it on (client-server-api "Stripped state").
	// A knock on such a room carries the state the room's server answered
	// send_knock with.
	var remote struct {
		State      []clientevent.StrippedEvent `json:"invite_room_state"`
		KnockState []clientevent.StrippedEvent `json:"knock_room_state"`
	}
	if u := se.Unsigned(); len(u) > 0 && json.Unmarshal(u, &remote) == nil && remote.State == nil {
		remote.State = remote.KnockState
	}
	if remote.State != nil {
		for _, st := range remote.State {
			if st.Type != "" && len(st.Content) > 0 && st.Content[0] == '{' {
				ir.InviteState.Events = append(ir.InviteState.Events, st)
			}
		}
		ir.InviteState.Events = append(ir.InviteState.Events, clientevent.Strip(se.Event))
		return ir, nil
	}
	view, err := s.rooms.CurrentView(ctx, m.RoomID)
	if err != nil {
		return nil, err
	}
	for _, typ := range clientevent.InviteStateTypes {
		if ev := view.Get(typ, ""); ev != nil {
			ir.InviteState.Events = append(ir.InviteState.Events, clientevent.Strip(ev))
		}
	}
	ir.InviteState.Events = append(ir.InviteState.Events, clientevent.Strip(se.Event))
	if inviter := view.Get(event.TypeMember, se.Sender()); inviter != nil && se.Sender() != m.UserID {
		ir.InviteState.Events = append(ir.InviteState.Events, clientevent.Strip(inviter))
	}
	return ir, nil
}

// summary computes heroes and member counts from the current state
// (client-server-api "/sync", m.heroes; "Calculating the display name for a
// room"): the first five joined or invited members other than the reader,
// in the order they became members, or, when there are none, the first
// five who left or were banned.
//
// Every member of a room wakes for the same new event and asks with the
// same upto, so the members' figures are shared per room and position:
// one read per room and event instead of one per member.
func (s *Syncer) summary(ctx context.Context, roomID, userID string, upto int64, read *roomstore.MemberSummary) (Summary, error) {
	ms, ok := s.summaries.get(roomID, upto)
	if read != nil {
		ms, ok = *read, true
	}
	if !ok {
		var err error
		if ms, err = s.rooms.Store().MemberSummaryOf(ctx, roomID); err != nil {
			return Summary{}, err
		}
		s.summaries.put(roomID, upto, ms)
	}
	heroes := othersThan(ms.First, userID)
	if len(heroes) == 0 {
		heroes = othersThan(ms.FirstGone, userID)
	}
	joined, invited := ms.Joined, ms.Invited
	return Summary{Heroes: heroes, JoinedCount: &joined, InvitedCount: &invited}, nil
}

// othersThan is up to five of users, leaving userID out.
func othersThan(users []string, userID string) []string {
	var out []string
	for _, u := range users {
		if u != userID && len(out) < 5 {
			out = append(out, u)
		}
	}
	return out
}

// summaryCache keeps each room's member summary at the latest position it
// was asked for.
type summaryCache struct {
	mu sync.Mutex
	m  map[string]summaryEntry
}

type summaryEntry struct {
	upto int64
	ms   roomstore.MemberSummary
}

// summaryCacheMax bounds the rooms kept; past it the cache starts afresh
// (entries are only useful to syncs woken by the same event anyway).
const summaryCacheMax = 4096

func (c *summaryCache) get(roomID string, upto int64) (roomstore.MemberSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[roomID]
	return e.ms, ok && e.upto == upto
}

func (c *summaryCache) put(roomID string, upto int64, ms roomstore.MemberSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= summaryCacheMax {
		c.m = map[string]summaryEntry{}
	}
	if e, ok := c.m[roomID]; !ok || e.upto < upto {
		c.m[roomID] = summaryEntry{upto: upto, ms: ms}
	}
}

// format renders a timeline event for the reader; before, if known, is the
// state before it (for prev_content).
func (s *Syncer) format(ctx context.Context, req Request, se *roomstore.StoredEvent, now int64, before visibility.StateLookup) (*clientevent.Event, error) {
	o := clientevent.Options{NowMS: now, OmitRoomID: true}
	if se.TxnID != "" && se.Sender() == req.UserID && se.TxnDevice == req.DeviceID {
		o.TransactionID = se.TxnID
	}
	if before != nil {
		o.Membership = membershipAt(se.Event, req.UserID, before.Get(event.TypeMember, req.UserID))
		if t, ok := se.Tuple(); ok {
			o.Prev = before.Get(t.Type, t.StateKey)
		}
		return formatStored(ctx, s.rooms, se, o, false, "")
	}
	return FormatStoredFor(ctx, s.rooms, se, o, req.UserID)
}

// FormatStored renders a stored event with its redaction and previous state.
func FormatStored(ctx context.Context, engine *rooms.Engine, se *roomstore.StoredEvent, o clientevent.Options) (*clientevent.Event, error) {
	return formatStored(ctx, engine, se, o, true, "")
}

// FormatStoredFor is FormatStored for a reader, whose membership at the
// event it adds as unsigned.membership (client-server-api, spec v1.11:
// "The room membership of the user making the request, at the time of the
// event"), read from the state before the event.
func FormatStoredFor(ctx context.Context, engine *rooms.Engine, se *roomstore.StoredEvent, o clientevent.Options, reader string) (*clientevent.Event, error) {
	return formatStored(ctx, engine, se, o, true, reader)
}

// membershipAt is a reader's membership at an event "including any
// changes caused by the event": the event's own membership when it is the
// reader's member event, else that of the member event before it, and
// "leave" when the reader had none.
func membershipAt(ev *event.Event, reader string, memberBefore *event.Event) string {
	if ev.Type() == event.TypeMember && ev.StateKey() != nil && *ev.StateKey() == reader {
		return ev.Membership()
	}
	if memberBefore != nil {
		return memberBefore.Membership()
	}
	return event.Leave
}

func formatStored(ctx context.Context, engine *rooms.Engine, se *roomstore.StoredEvent, o clientevent.Options, readPrev bool, reader string) (*clientevent.Event, error) {
	if se.RedactedBy != "" {
		if red, err := engine.Store().EventOnly(ctx, se.RedactedBy); err == nil {
			o.RedactedBy = red
		}
	}
	t, isState := se.Tuple()
	if (isState && readPrev) || reader != "" {
		before, err := engine.Store().StateAt(ctx, se.StateBefore)
		if err != nil {
			return nil, err
		}
		if id, ok := before[t]; ok && isState && readPrev {
			if prev, err := engine.Store().EventOnly(ctx, id); err == nil {
				o.Prev = prev
			}
		}
		if reader != "" {
			var member *event.Event
			if id, ok := before[event.StateTuple{Type: event.TypeMember, StateKey: reader}]; ok {
				member, _ = engine.Store().EventOnly(ctx, id)
			}
			o.Membership = membershipAt(se.Event, reader, member)
		}
	}
	return clientevent.Format(se.Event, o), nil
}

func reverse(evs []*roomstore.StoredEvent) {
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
}

// sortState orders state events deterministically (create first).
func sortState(evs []*event.Event) {
	sort.Slice(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if (a.Type() == event.TypeCreate) != (b.Type() == event.TypeCreate) {
			return a.Type() == event.TypeCreate
		}
		if a.Type() != b.Type() {
			return a.Type() < b.Type()
		}
		return *a.StateKey() < *b.StateKey()
	})
}
