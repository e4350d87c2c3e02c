// Package presence tracks users' presence (client-server-api "Presence",
// server-server-api m.presence EDUs) and serves it to /sync as a stream.
//
// Presence must not cost the hot path: syncing and sending only touch an
// in-memory entry per user. The database is written only when a local
// user's state or status message changes (by request, or by the idle and
// offline timeouts), so a thousand users syncing all day write nothing
// after coming online. Last-active times and currently_active live in
// memory only, as the per-process, lossy data they are: a restart takes
// over the stored states and times out those who do not come back. Stream
// positions come from the clock (microseconds), since in-memory changes
// have no stored position to continue from.
package presence

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/presencestore"
	"github.com/myelin-chat/myelin/internal/streams"
)

// Presence states.
const (
	Online      = "online"
	Unavailable = "unavailable"
	Offline     = "offline"
	// EDUType is the presence EDU (server-server-api "Presence").
	EDUType = "m.presence"
)

// Timeouts, as Synapse applies them (synapse/handlers/presence.py).
const (
	// IdleTimeout turns an online user unavailable after this long
	// without activity (Synapse's IDLE_TIMER).
	IdleTimeout = 5 * time.Minute
	// SyncOnlineTimeout turns a user offline this long after their last
	// sync ended (SYNC_ONLINE_TIMEOUT).
	SyncOnlineTimeout = 30 * time.Second
	// ActiveGranularity is how recent the last activity must be for
	// currently_active (LAST_ACTIVE_GRANULARITY).
	ActiveGranularity = time.Minute
	// FederationTimeout turns a remote user offline when their server
	// has said nothing of them for this long (FEDERATION_TIMEOUT).
	FederationTimeout = 30 * time.Minute
)

// Bounds.
const (
	// maxUsers bounds the in-memory entries; offline ones are dropped
	// first (local ones are in the database), and beyond it remote
	// users' updates are ignored.
	maxUsers = 100000
	// maxLog bounds the change log that incremental syncs read.
	maxLog = 10000
	// MaxStatusMsg bounds a status message, in bytes.
	MaxStatusMsg = 2048
	// maxEDUPush bounds the updates handled from one EDU.
	maxEDUPush = 1000
)

// EDUSender queues EDUs for other servers (federation/sender.Sender).
type EDUSender interface {
	SendEDU(ctx context.Context, edu sender.EDU, destinations []string) error
}

// Config builds a Service.
type Config struct {
	Store      *presencestore.Store
	Rooms      *rooms.Engine
	ServerName string
	// Enabled is Synapse's presence.enabled: when false nothing is
	// tracked, /sync carries no presence, PUT is accepted and ignored and
	// GET answers offline, as Synapse does.
	Enabled bool
	// Sender sends m.presence EDUs; nil on a server without federation.
	Sender EDUSender
	Now    func() time.Time
	Log    *slog.Logger
}

// Service holds presence.
type Service struct {
	cfg Config

	mu      sync.Mutex
	pos     int64
	users   map[string]*entry
	log     []change // in position order
	trimmed int64    // the highest position dropped from log

	stopLoop func()

	followMu  sync.Mutex
	followers []func()
}

// entry is one user's presence.
type entry struct {
	local     bool
	state     string
	statusMsg *string
	// lastActive is the last pro-active event (zero: unknown).
	lastActive time.Time
	// shownActive is the currently_active last published.
	shownActive bool
	pos         int64

	// Local users: syncs in progress and when the last one ended.
	syncing  int
	lastSync time.Time
	// Remote users: when their server last told us of them.
	lastUpdate time.Time
}

type change struct {
	pos    int64
	userID string
}

// New returns a Service that takes over the stored presence of local
// users who were not offline (they go offline unless they sync again
// within SyncOnlineTimeout). Start runs its timeouts.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	now := cfg.Now()
	s := &Service{cfg: cfg, pos: now.UnixMicro(), users: map[string]*entry{}}
	if !cfg.Enabled {
		return s, nil
	}
	stored, err := cfg.Store.NotOffline(ctx, maxUsers/2)
	if err != nil {
		return nil, err
	}
	for _, p := range stored {
		e := fromStored(p)
		e.lastSync = now
		s.users[p.UserID] = e
	}
	return s, nil
}

func fromStored(p presencestore.Presence) *entry {
	e := &entry{local: true, state: p.State, statusMsg: p.StatusMsg}
	if p.LastActiveTS > 0 {
		e.lastActive = time.UnixMilli(p.LastActiveTS)
	}
	return e
}

// Start runs the loop that applies the timeouts every tick; Close stops
// it.
func (s *Service) Start(tick time.Duration) {
	if !s.cfg.Enabled {
		return
	}
	s.stopLoop = streams.Every(tick, func() {
		if err := s.Tick(context.Background()); err != nil {
			s.cfg.Log.Warn("applying presence timeouts", "err", err)
		}
	})
}

// Close stops the timeout loop.
func (s *Service) Close() {
	if s.stopLoop != nil {
		s.stopLoop()
	}
}

// ValidState reports whether st is a presence state a client may set.
func ValidState(st string) bool { return st == Online || st == Unavailable || st == Offline }

// Set handles PUT /presence/{userId}/status for a local user. A missing
// status message clears it, as in Synapse.
func (s *Service) Set(ctx context.Context, userID, state string, statusMsg *string) error {
	if !ValidState(state) {
		return merr.InvalidParam("presence must be online, unavailable or offline")
	}
	if statusMsg != nil && len(*statusMsg) > MaxStatusMsg {
		return merr.InvalidParam("status_msg is too long")
	}
	if !s.cfg.Enabled {
		return nil
	}
	s.mu.Lock()
	e, err := s.localLocked(ctx, userID)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	now := s.cfg.Now()
	changed := e.state != state || !sameMsg(e.statusMsg, statusMsg)
	e.state, e.statusMsg = state, statusMsg
	if state == Online {
		e.lastActive = now
	}
	var rec presencestore.Presence
	if changed {
		rec = s.recordLocked(userID, e)
	}
	s.mu.Unlock()
	if !changed {
		return nil
	}
	// A 200 means durable: the change is stored before the answer.
	if err := s.cfg.Store.Put(ctx, rec); err != nil {
		return err
	}
	s.publish(ctx, userID)
	return nil
}

func sameMsg(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Syncing records that a local user's /sync started with set_presence
// (client-server-api "GET /sync": online, the default, marks them online;
// unavailable marks them unavailable; offline leaves presence alone). The
// returned function ends it. Only a change of state writes to the
// database.
func (s *Service) Syncing(ctx context.Context, userID, setPresence string) (func(), error) {
	if !s.cfg.Enabled || setPresence == Offline {
		return func() {}, nil
	}
	s.mu.Lock()
	e, err := s.localLocked(ctx, userID)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	now := s.cfg.Now()
	e.syncing++
	e.lastSync = now
	changed := false
	switch {
	case setPresence == Unavailable && e.state != Unavailable:
		e.state, changed = Unavailable, true
	case setPresence != Unavailable && e.state == Offline:
		// A sync brings an offline user online, but leaves an idle or
		// explicitly unavailable one as they are (Synapse's user_syncing).
		e.state, e.lastActive, changed = Online, now, true
	}
	var rec presencestore.Presence
	if changed {
		rec = s.recordLocked(userID, e)
	}
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		e.syncing--
		e.lastSync = s.cfg.Now()
		s.mu.Unlock()
	}
	if changed {
		if err := s.cfg.Store.Put(ctx, rec); err != nil {
			s.cfg.Log.Warn("storing presence", "user_id", userID, "err", err)
		}
		s.publish(ctx, userID)
	}
	return done, nil
}

// ActiveOnCommit is a room engine commit hook: an event from a local user
// is a pro-active event (client-server-api "Last active ago"), bringing
// them online.
func (s *Service) ActiveOnCommit(batch []rooms.Committed) {
	if !s.cfg.Enabled {
		return
	}
	seen := map[string]bool{}
	for _, c := range batch {
		if u := c.Event.Sender(); domainOf(u) == s.cfg.ServerName {
			seen[u] = true
		}
	}
	if len(seen) == 0 {
		return
	}
	// The hook must not block the room's writer.
	go func() {
		ctx := context.Background()
		for u := range seen {
			if err := s.active(ctx, u); err != nil {
				s.cfg.Log.Warn("marking a user active", "user_id", u, "err", err)
			}
		}
	}()
}

// active bumps a local user's last active time.
func (s *Service) active(ctx context.Context, userID string) error {
	s.mu.Lock()
	e, err := s.localLocked(ctx, userID)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	now := s.cfg.Now()
	e.lastActive = now
	stateChanged := e.state != Online
	e.state = Online
	if !stateChanged && e.shownActive {
		s.mu.Unlock()
		return nil // nothing others would see changed
	}
	rec := s.recordLocked(userID, e)
	s.mu.Unlock()
	if stateChanged {
		if err := s.cfg.Store.Put(ctx, rec); err != nil {
			return err
		}
	}
	s.publish(ctx, userID)
	return nil
}

// localLocked returns a local user's entry, loading it from the database
// when it is not in memory.
func (s *Service) localLocked(ctx context.Context, userID string) (*entry, error) {
	if e := s.users[userID]; e != nil {
		return e, nil
	}
	p, err := s.cfg.Store.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	e := &entry{local: true, state: Offline}
	if p != nil {
		e = fromStored(*p)
	}
	s.users[userID] = e
	return e, nil
}

// recordLocked advances the stream for a change of userID's presence and
// returns what to store.
func (s *Service) recordLocked(userID string, e *entry) presencestore.Presence {
	now := s.cfg.Now()
	s.pos = max(s.pos+1, now.UnixMicro())
	e.pos = s.pos
	e.shownActive = s.currentlyActive(e, now)
	s.log = append(s.log, change{pos: s.pos, userID: userID})
	if len(s.log) > 2*maxLog {
		drop := len(s.log) - maxLog
		s.trimmed = s.log[drop-1].pos
		s.log = append(s.log[:0], s.log[drop:]...)
	}
	p := presencestore.Presence{UserID: userID, State: e.state, StatusMsg: e.statusMsg}
	if !e.lastActive.IsZero() {
		p.LastActiveTS = e.lastActive.UnixMilli()
	}
	return p
}

// currentlyActive is whether an online user was active within
// ActiveGranularity; remote users' is what their server said.
func (s *Service) currentlyActive(e *entry, now time.Time) bool {
	if !e.local {
		return e.shownActive && e.state == Online
	}
	return e.state == Online && !e.lastActive.IsZero() && now.Sub(e.lastActive) < ActiveGranularity
}

// Tick applies the timeouts: idle online users become unavailable, local
// users who stopped syncing and remote users not heard of become offline,
// and currently_active ends. Local state changes are stored in one
// transaction. Offline entries beyond the memory bound are dropped.
func (s *Service) Tick(ctx context.Context) error {
	if !s.cfg.Enabled {
		return nil
	}
	var recs []presencestore.Presence
	var changed []string
	s.mu.Lock()
	now := s.cfg.Now()
	for u, e := range s.users {
		stateChanged := false
		switch {
		case e.local && e.state != Offline && e.syncing == 0 && now.Sub(e.lastSync) > SyncOnlineTimeout:
			e.state, stateChanged = Offline, true
		case e.local && e.state == Online && !e.lastActive.IsZero() && now.Sub(e.lastActive) > IdleTimeout:
			e.state, stateChanged = Unavailable, true
		case !e.local && e.state != Offline && now.Sub(e.lastUpdate) > FederationTimeout:
			e.state, stateChanged = Offline, true
		}
		if !stateChanged && e.shownActive == s.currentlyActive(e, now) {
			continue
		}
		if !e.local && !stateChanged {
			continue
		}
		rec := s.recordLocked(u, e)
		changed = append(changed, u)
		if e.local && stateChanged {
			recs = append(recs, rec)
		}
	}
	if len(s.users) > maxUsers {
		for u, e := range s.users {
			if e.state == Offline && e.syncing == 0 && e.pos < s.trimmedOrOldest() {
				delete(s.users, u)
			}
		}
	}
	s.mu.Unlock()
	var err error
	if len(recs) > 0 {
		err = s.cfg.Store.Put(ctx, recs...)
	}
	for _, u := range changed {
		s.publish(ctx, u)
	}
	return err
}

// trimmedOrOldest is the position below which no incremental sync reads
// entries by the log: entries older than it may be forgotten.
func (s *Service) trimmedOrOldest() int64 {
	if len(s.log) > 0 {
		return s.log[0].pos
	}
	return s.pos
}

// Content is a user's m.presence content (client-server-api "m.presence").
type Content struct {
	Presence        string  `json:"presence"`
	LastActiveAgo   *int64  `json:"last_active_ago,omitempty"`
	StatusMsg       *string `json:"status_msg,omitempty"`
	CurrentlyActive *bool   `json:"currently_active,omitempty"`
}

func (s *Service) contentLocked(e *entry, now time.Time) Content {
	c := Content{Presence: e.state, StatusMsg: e.statusMsg}
	if !e.lastActive.IsZero() {
		ago := max(now.Sub(e.lastActive).Milliseconds(), 0)
		c.LastActiveAgo = &ago
	}
	if e.state == Online {
		active := s.currentlyActive(e, now)
		c.CurrentlyActive = &active
	}
	return c
}

// Get handles GET /presence/{userId}/status: the observer may see their
// own presence and that of users they share a room with.
func (s *Service) Get(ctx context.Context, observer, userID string) (Content, error) {
	if !s.cfg.Enabled {
		return Content{Presence: Offline}, nil
	}
	if observer != userID {
		shared, err := s.shareRoom(ctx, observer, userID)
		if err != nil {
			return Content{}, err
		}
		if !shared {
			return Content{}, merr.Forbidden("You are not allowed to see their presence")
		}
	}
	c, _, err := s.Shown(ctx, userID)
	return c, err
}

// Shown returns userID's presence for an observer the caller knows
// may see it (one sharing a room with them); ok is false when presence
// is disabled, so there is nothing to show.
func (s *Service) Shown(ctx context.Context, userID string) (c Content, ok bool, err error) {
	if !s.cfg.Enabled {
		return Content{Presence: Offline}, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.users[userID]
	if e == nil && domainOf(userID) == s.cfg.ServerName {
		var err error
		if e, err = s.localLocked(ctx, userID); err != nil {
			return Content{}, false, err
		}
	}
	if e == nil {
		return Content{Presence: Offline}, true, nil
	}
	return s.contentLocked(e, s.cfg.Now()), true, nil
}

// joinedRooms is the set of rooms a user is joined to.
func (s *Service) joinedRooms(ctx context.Context, userID string) (map[string]bool, error) {
	rooms, err := s.cfg.Rooms.JoinedRooms(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		out[r] = true
	}
	return out, nil
}

// shareRoom reports whether two users are joined to a common room.
func (s *Service) shareRoom(ctx context.Context, a, b string) (bool, error) {
	ra, err := s.joinedRooms(ctx, a)
	if err != nil || len(ra) == 0 {
		return false, err
	}
	rb, err := s.joinedRooms(ctx, b)
	if err != nil {
		return false, err
	}
	for r := range rb {
		if ra[r] {
			return true, nil
		}
	}
	return false, nil
}

// publish wakes the syncs of local users who share a room with userID,
// and tells the servers sharing a room with a local user.
func (s *Service) publish(ctx context.Context, userID string) {
	s.followMu.Lock()
	fns := s.followers
	s.followMu.Unlock()
	for _, fn := range fns {
		fn()
	}
	roomsOf, err := s.joinedRooms(ctx, userID)
	if err != nil {
		s.cfg.Log.Warn("listing a user's rooms for presence", "user_id", userID, "err", err)
		return
	}
	wake := map[string]bool{}
	if domainOf(userID) == s.cfg.ServerName {
		wake[userID] = true
	}
	local := domainOf(userID) == s.cfg.ServerName
	servers := map[string]bool{}
	suffix := ":" + s.cfg.ServerName
	for roomID := range roomsOf {
		members, err := s.cfg.Rooms.Store().Members(ctx, roomID, event.Join)
		if err != nil {
			s.cfg.Log.Warn("listing a room's members for presence", "room_id", roomID, "err", err)
			continue
		}
		for u := range members {
			if strings.HasSuffix(u, suffix) {
				wake[u] = true
			} else if local {
				servers[domainOf(u)] = true
			}
		}
	}
	users := make([]string, 0, len(wake))
	for u := range wake {
		users = append(users, u)
	}
	s.cfg.Rooms.Notifier().Wake(users...)
	if local && len(servers) > 0 && s.cfg.Sender != nil {
		s.sendEDU(ctx, userID, servers)
	}
}

// sendEDU sends a local user's presence to the given servers.
func (s *Service) sendEDU(ctx context.Context, userID string, servers map[string]bool) {
	s.mu.Lock()
	e := s.users[userID]
	if e == nil {
		s.mu.Unlock()
		return
	}
	c := s.contentLocked(e, s.cfg.Now())
	s.mu.Unlock()
	item := map[string]any{"user_id": userID, "presence": c.Presence, "last_active_ago": int64(0)}
	if c.LastActiveAgo != nil {
		item["last_active_ago"] = *c.LastActiveAgo
	}
	if c.StatusMsg != nil {
		item["status_msg"] = *c.StatusMsg
	}
	if c.CurrentlyActive != nil {
		item["currently_active"] = *c.CurrentlyActive
	}
	content, err := marshal(map[string]any{"push": []any{item}})
	if err != nil {
		return
	}
	dests := make([]string, 0, len(servers))
	for d := range servers {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	// A newer update of the same user replaces a queued one.
	if err := s.cfg.Sender.SendEDU(ctx, sender.EDU{Type: EDUType, Content: content, Key: userID}, dests); err != nil {
		s.cfg.Log.Warn("queueing a presence EDU", "user_id", userID, "err", err)
	}
}

var errMalformed = errors.New("malformed m.presence EDU")

func domainOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}
