package syncapi

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/myelin-chat/myelin/internal/invitepermission"
)

// IgnoredUsersSource reads a user's m.ignored_user_list (client-server-api
// "Ignoring Users"): the users whose typing, receipts and presence the
// streams leave out.
type IgnoredUsersSource interface {
	IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error)
}

// IgnoredUserListType is the global account data listing the users a
// user ignores.
const IgnoredUserListType = "m.ignored_user_list"

// ParseIgnoredUsers reads m.ignored_user_list's ignored_users keys;
// content the client wrote that does not parse ignores nobody.
func ParseIgnoredUsers(raw []byte) map[string]bool {
	var c struct {
		IgnoredUsers map[string]json.RawMessage `json:"ignored_users"`
	}
	_ = json.Unmarshal(raw, &c)
	out := make(map[string]bool, len(c.IgnoredUsers))
	for u := range c.IgnoredUsers {
		out[u] = true
	}
	return out
}

// SetIgnoredUsers sets where streams read ignored users from. Set while the
// server is wired; without it nobody is ignored.
func (s *Syncer) SetIgnoredUsers(src IgnoredUsersSource) { s.ignored = src }

// SetInvitePermission sets where /sync learns which users block invites
// (client-server-api "Invite permission"). Set while the server is wired.
func (s *Syncer) SetInvitePermission(c *invitepermission.Checker) { s.invitePermission = c }

// Ignored returns the users the syncing user ignores (never nil). It is
// read once per sync, shared by the streams.
func (sr *StreamSync) Ignored(ctx context.Context) (map[string]bool, error) {
	if sr.ignored == nil || sr.ignored.src == nil {
		return map[string]bool{}, nil
	}
	io := sr.ignored
	io.once.Do(func() {
		if io.cache != nil {
			if set, ok := io.cache.Get(sr.Req.UserID, io.pos); ok {
				io.set = set
				return
			}
		}
		io.set, io.err = io.src.IgnoredUsers(ctx, sr.Req.UserID)
		if io.set == nil {
			io.set = map[string]bool{}
		}
		if io.err == nil && io.cache != nil {
			io.cache.Put(sr.Req.UserID, io.pos, io.set)
		}
	})
	return io.set, io.err
}

// SyncTracker learns of syncs in progress: presence marks a syncing user
// online (client-server-api "GET /sync", set_presence).
type SyncTracker interface {
	// Syncing is called as a sync starts; the returned function as it
	// ends.
	Syncing(ctx context.Context, userID, setPresence string) (func(), error)
}

// SetSyncTracker sets who learns of syncs. Set while the server is wired.
func (s *Syncer) SetSyncTracker(t SyncTracker) { s.tracker = t }

// ignoredShare is one sync's ignored-users read, shared by its streams:
// read at most once, and only when a stream has something to hide.
type ignoredShare struct {
	src IgnoredUsersSource
	// cache and pos (the room stream position the sync reads up to) let
	// syncs at the same room position share one read (nil: no cache).
	cache *ignoredCache
	pos   int64
	once  sync.Once
	set   map[string]bool // shared: never modified
	err   error
}

// maxIgnoredCached bounds the users whose ignored list is kept.
const maxIgnoredCached = 10000

// ignoredCache keeps each recently syncing user's m.ignored_user_list as
// read at a room stream position. Account data shares the room stream: a
// change to the list takes a position above every one readable before it
// committed, so a list read when the stream stood at pos is the list for
// every sync reading up to pos. A sync woken by typing, receipts or
// presence (the room stream unmoved) then reads nothing.
type ignoredCache = TaggedCache[int64, map[string]bool]

// AddEphemeral adds an ephemeral event of type typ to a joined room's
// section when the filter's room.ephemeral part allows it (types,
// not_types, rooms, not_rooms and limit per room; client-server-api
// "Filtering"). It reports whether the event was added.
func (sr *StreamSync) AddEphemeral(roomID, typ string, content any) (bool, error) {
	if !sr.ephemeralAllowed(roomID, typ) {
		return false, nil
	}
	raw, err := EphemeralEvent(typ, content)
	if err != nil {
		return false, err
	}
	jr := sr.JoinedRoom(roomID)
	jr.Ephemeral.Events = append(jr.Ephemeral.Events, raw)
	return true, nil
}

// EphemeralEvent is the JSON of an ephemeral event as /sync sends it.
func EphemeralEvent(typ string, content any) (json.RawMessage, error) {
	return json.Marshal(map[string]any{"type": typ, "content": content})
}

// AddEphemeralJSON is AddEphemeral for an event already encoded (by
// EphemeralEvent), which a stream may build once and share between the
// syncs of every member of the room; raw is not modified.
func (sr *StreamSync) AddEphemeralJSON(roomID, typ string, raw json.RawMessage) bool {
	if !sr.ephemeralAllowed(roomID, typ) {
		return false
	}
	jr := sr.JoinedRoom(roomID)
	jr.Ephemeral.Events = append(jr.Ephemeral.Events, raw)
	return true
}

// ephemeralAllowed applies the filter's room.ephemeral part.
func (sr *StreamSync) ephemeralAllowed(roomID, typ string) bool {
	ef := &sr.Filter.Room.Ephemeral
	if !ef.Allows(typ, "") || !allowsRoom(ef.Rooms, ef.NotRooms, roomID) {
		return false
	}
	if jr, ok := sr.Resp.Rooms.Join[roomID]; ok && ef.Limit != nil && len(jr.Ephemeral.Events) >= max(*ef.Limit, 0) {
		return false
	}
	return true
}

// AddPresence adds an m.presence event for userID to the response's
// presence section when the filter's presence part allows it (types,
// not_types, senders, not_senders and limit).
func (sr *StreamSync) AddPresence(userID string, content any) (bool, error) {
	pf := &sr.Filter.Presence
	if !pf.Allows("m.presence", userID) {
		return false, nil
	}
	if pf.Limit != nil && len(sr.Resp.Presence.Events) >= max(*pf.Limit, 0) {
		return false, nil
	}
	raw, err := json.Marshal(map[string]any{"type": "m.presence", "sender": userID, "content": content})
	if err != nil {
		return false, err
	}
	sr.Resp.Presence.Events = append(sr.Resp.Presence.Events, raw)
	return true, nil
}
