// Package typing keeps who is typing in which room (client-server-api
// "Typing Notifications", server-server-api m.typing EDUs) and serves it
// to /sync as a stream.
//
// Typing state lives in memory only and is explicitly per process, as in
// Synapse: it is short-lived by nature (every entry times out within
// minutes), a restart forgets it, and clients simply send it again. So the
// stream's positions cannot come from the database; they come from the
// clock (microseconds), so that a restarted process starts above every
// position it handed out before.
package typing

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/streams"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Timeouts, as Synapse applies them.
const (
	// DefaultTimeout applies when a client sends typing without a timeout.
	DefaultTimeout = 30 * time.Second
	// MaxTimeout caps what a client asks for (Synapse: 120 s).
	MaxTimeout = 120 * time.Second
	// FederationTimeout is how long a remote user's typing lasts, since
	// m.typing EDUs carry no timeout (Synapse: 60 s).
	FederationTimeout = 60 * time.Second
	// keepStopped is how long a room whose typing set emptied is kept, so
	// that a /sync holding an older token learns the list is now empty.
	// It exceeds the longest long-poll (syncapi.MaxTimeout).
	keepStopped = 10 * time.Minute
	// maxTypersPerRoom bounds one room's set (remote servers can add users).
	maxTypersPerRoom = 1000
)

// EDUType is the typing EDU (server-server-api "Typing Notifications").
const EDUType = "m.typing"

// EDUSender queues EDUs for other servers (federation/sender.Sender).
type EDUSender interface {
	SendEDU(ctx context.Context, edu sender.EDU, destinations []string) error
}

// Config builds a Service.
type Config struct {
	Rooms      *rooms.Engine
	ServerName string
	// Sender sends m.typing EDUs; nil on a server without federation.
	Sender EDUSender
	Now    func() time.Time
	Log    *slog.Logger
}

// Service holds the typing state of every room.
type Service struct {
	cfg Config

	mu    sync.Mutex
	pos   int64 // current stream position
	rooms map[string]*roomTyping

	stopLoop func()

	followMu  sync.Mutex
	followers []func()
}

// roomTyping is one room's typing set.
type roomTyping struct {
	until map[string]time.Time // user → when typing ends
	pos   int64                // position of the last change
	// event is the m.typing event of the set at pos, as /sync sends it
	// to members who ignore none of the typers: built by the first sync
	// that needs it and shared by all (nil until then, and after a
	// change).
	event json.RawMessage
	// emptySince is when the set last became empty (zero while not empty).
	emptySince time.Time
}

// New returns a Service; Start runs its timeouts.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg, pos: cfg.Now().UnixMicro(), rooms: map[string]*roomTyping{}}
}

// Start runs the loop that ends typing whose timeout passed, checking every
// tick. Close stops it.
func (s *Service) Start(tick time.Duration) {
	s.stopLoop = streams.Every(tick, func() { s.Expire(context.Background()) })
}

// Close stops the timeout loop.
func (s *Service) Close() {
	if s.stopLoop != nil {
		s.stopLoop()
	}
}

// Key is the stream's part in sync tokens.
func (s *Service) Key() string { return "t" }

// Current is the position of the latest change.
func (s *Service) Current() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// nextLocked advances the stream: to the clock's microsecond, or one past
// the last position when changes come faster than that.
func (s *Service) nextLocked() int64 {
	s.pos = max(s.pos+1, s.cfg.Now().UnixMicro())
	return s.pos
}

// Set records that a local user started (typing, for timeout) or stopped
// typing in a room (PUT /rooms/{roomId}/typing/{userId}). Only joined
// members may. The room's other servers are told.
func (s *Service) Set(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	joined, err := s.cfg.Rooms.IsJoined(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if !joined {
		return merr.Forbidden("you are not joined to this room")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timeout = min(timeout, MaxTimeout)
	changed := s.apply(roomID, userID, typing, timeout)
	if changed {
		s.wakeRoom(ctx, roomID)
	}
	// Tell other servers even without a change here: a refresh extends
	// the typing on their side too (their timeout is their own).
	s.sendEDU(ctx, roomID, userID, typing)
	return nil
}

// apply changes the state; it reports whether the room's set changed.
func (s *Service) apply(roomID, userID string, typing bool, timeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	rt := s.rooms[roomID]
	if !typing {
		if rt == nil {
			return false
		}
		if _, ok := rt.until[userID]; !ok {
			return false
		}
		delete(rt.until, userID)
		rt.pos, rt.event = s.nextLocked(), nil
		if len(rt.until) == 0 {
			rt.emptySince = now
		}
		return true
	}
	if rt == nil {
		rt = &roomTyping{until: map[string]time.Time{}}
		s.rooms[roomID] = rt
	}
	_, was := rt.until[userID]
	if !was && len(rt.until) >= maxTypersPerRoom {
		return false
	}
	rt.until[userID] = now.Add(timeout)
	rt.emptySince = time.Time{}
	if was {
		return false // a refresh: the set is unchanged
	}
	rt.pos, rt.event = s.nextLocked(), nil
	return true
}

// Expire ends typing whose timeout passed and forgets rooms that have been
// quiet for long, waking the syncs of the rooms that changed.
func (s *Service) Expire(ctx context.Context) {
	type stopped struct{ roomID, userID string }
	var changed []string
	var local []stopped
	s.mu.Lock()
	now := s.cfg.Now()
	for roomID, rt := range s.rooms {
		n := len(rt.until)
		for u, until := range rt.until {
			if !now.Before(until) {
				delete(rt.until, u)
				if domainOf(u) == s.cfg.ServerName {
					local = append(local, stopped{roomID, u})
				}
			}
		}
		if len(rt.until) != n {
			rt.pos, rt.event = s.nextLocked(), nil
			changed = append(changed, roomID)
			if len(rt.until) == 0 {
				rt.emptySince = now
			}
		} else if n == 0 && now.Sub(rt.emptySince) > keepStopped {
			delete(s.rooms, roomID)
		}
	}
	s.mu.Unlock()
	for _, r := range changed {
		s.wakeRoom(ctx, r)
	}
	// Remote servers time our users out themselves, but Synapse tells them
	// at once; so do we.
	for _, st := range local {
		s.sendEDU(ctx, st.roomID, st.userID, false)
	}
}

// StopOnCommit is a room engine commit hook: an event from a local user
// who was typing ends their typing in that room.
func (s *Service) StopOnCommit(batch []rooms.Committed) {
	type stopped struct{ roomID, userID string }
	var todo []stopped
	s.mu.Lock()
	for _, c := range batch {
		roomID, sender := c.Event.RoomID(), c.Event.Sender()
		if c.Event.StateKey() != nil || domainOf(sender) != s.cfg.ServerName {
			continue
		}
		if rt := s.rooms[roomID]; rt != nil {
			if _, ok := rt.until[sender]; ok {
				todo = append(todo, stopped{roomID, sender})
			}
		}
	}
	s.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	// The hook must not block the room's writer: waking and telling other
	// servers costs queries.
	go func() {
		ctx := context.Background()
		for _, st := range todo {
			if s.apply(st.roomID, st.userID, false, 0) {
				s.wakeRoom(ctx, st.roomID)
				s.sendEDU(ctx, st.roomID, st.userID, false)
			}
		}
	}()
}

// HandleEDU is the federationapi handler for received m.typing EDUs. The
// user must belong to the sending server and be joined to the room, and
// the room's ACL must admit the server (server-server-api "Typing
// Notifications", "Server Access Control Lists (ACLs)").
func (s *Service) HandleEDU(ctx context.Context, edu federationapi.InboundEDU) error {
	var c struct {
		RoomID string `json:"room_id"`
		UserID string `json:"user_id"`
		Typing *bool  `json:"typing"`
	}
	if err := json.Unmarshal(edu.Content, &c); err != nil || c.RoomID == "" || c.UserID == "" || c.Typing == nil {
		return errors.New("malformed m.typing EDU")
	}
	if domainOf(c.UserID) != edu.Origin {
		return errors.New("m.typing EDU for a user of another server")
	}
	if !edu.RoomAllowed(ctx, c.RoomID) {
		return errors.New("m.typing EDU from a server the room's ACL denies")
	}
	joined, err := s.cfg.Rooms.IsJoined(ctx, c.RoomID, c.UserID)
	if err != nil {
		return err
	}
	if !joined {
		return errors.New("m.typing EDU for a user not joined to the room")
	}
	if s.apply(c.RoomID, c.UserID, *c.Typing, FederationTimeout) {
		s.wakeRoom(ctx, c.RoomID)
	}
	return nil
}

// Typing returns who is typing in a room now, sorted.
func (s *Service) Typing(roomID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.rooms[roomID]
	if rt == nil {
		return nil
	}
	return sortedUsers(rt.until)
}

func sortedUsers(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Sync adds an m.typing event with the current set to each joined room
// whose set changed since the token (every room with typers on an initial
// sync), leaving out ignored users.
func (s *Service) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	type news struct {
		roomID string
		users  []string
		event  json.RawMessage // the shared event for users
	}
	var out []news
	s.mu.Lock()
	for _, roomID := range sr.Joined {
		rt := s.rooms[roomID]
		if rt == nil || (sr.From == 0 && len(rt.until) == 0) || (sr.From != 0 && rt.pos <= sr.From) {
			continue
		}
		if rt.event == nil {
			raw, err := typingEvent(sortedUsers(rt.until))
			if err != nil {
				s.mu.Unlock()
				return err
			}
			rt.event = raw
		}
		out = append(out, news{roomID, sortedUsers(rt.until), rt.event})
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	ignored, err := sr.Ignored(ctx)
	if err != nil {
		return err
	}
	for _, n := range out {
		users := n.users[:0]
		for _, u := range n.users {
			if !ignored[u] {
				users = append(users, u)
			}
		}
		if len(users) == len(n.users) {
			sr.AddEphemeralJSON(n.roomID, EDUType, n.event)
			continue
		}
		raw, err := typingEvent(users)
		if err != nil {
			return err
		}
		sr.AddEphemeralJSON(n.roomID, EDUType, raw)
	}
	return nil
}

// typingEvent is the m.typing event of a typing set.
func typingEvent(users []string) (json.RawMessage, error) {
	return syncapi.EphemeralEvent(EDUType, map[string]any{"user_ids": users})
}

// OnChange registers fn to be called after any room's set changed (for
// followers of the whole stream, like appservice transactions).
func (s *Service) OnChange(fn func()) {
	s.followMu.Lock()
	s.followers = append(s.followers, fn)
	s.followMu.Unlock()
}

// RoomTypers is one room's typing set at a stream position.
type RoomTypers struct {
	RoomID string
	Users  []string
	Pos    int64
}

// ChangedSince returns the rooms whose set changed after position from,
// with their current sets, and the stream's current position.
func (s *Service) ChangedSince(from int64) ([]RoomTypers, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RoomTypers
	for roomID, rt := range s.rooms {
		if rt.pos > from {
			out = append(out, RoomTypers{RoomID: roomID, Users: sortedUsers(rt.until), Pos: rt.pos})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pos < out[j].Pos })
	return out, s.pos
}

// wakeRoom wakes the long-polling syncs of the room's local joined members,
// and tells the stream's followers.
func (s *Service) wakeRoom(ctx context.Context, roomID string) {
	s.followMu.Lock()
	fns := s.followers
	s.followMu.Unlock()
	for _, fn := range fns {
		fn()
	}
	if err := s.cfg.Rooms.WakeLocalMembers(ctx, roomID); err != nil {
		s.cfg.Log.Warn("listing a room's members to wake their syncs", "room_id", roomID, "err", err)
	}
}

// sendEDU tells the room's other servers about a local user's typing.
func (s *Service) sendEDU(ctx context.Context, roomID, userID string, typing bool) {
	if s.cfg.Sender == nil {
		return
	}
	servers, err := s.cfg.Rooms.ServersInRoom(ctx, roomID)
	if err != nil {
		s.cfg.Log.Warn("listing a room's servers for a typing EDU", "room_id", roomID, "err", err)
		return
	}
	content, _ := json.Marshal(map[string]any{"room_id": roomID, "user_id": userID, "typing": typing})
	// Key: a queued, unsent update for the same user and room is replaced,
	// so a backlog holds only the latest state.
	edu := sender.EDU{Type: EDUType, Content: content, Key: roomID + "\x00" + userID}
	if err := s.cfg.Sender.SendEDU(ctx, edu, servers); err != nil {
		s.cfg.Log.Warn("queueing a typing EDU", "room_id", roomID, "err", err)
	}
}

func domainOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}
