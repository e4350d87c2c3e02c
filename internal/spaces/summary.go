// Package spaces answers questions about rooms a user may not be in: the
// space hierarchy (client-server-api "Spaces", GET /hierarchy, and its
// federation form) and room summaries (GET /room_summary). Rooms this
// server is in are summarised from their current state; others are asked
// of the servers a space names in its m.space.child events' via lists.
package spaces

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/spacestore"
	"github.com/myelin-chat/myelin/internal/visibility"
)

// RoomTypeSpace is the m.room.create type of a space-room.
const RoomTypeSpace = "m.space"

// Summary is a room's summary (client-server-api room_summary.yaml): the
// public rooms chunk plus the room type, version, encryption and the rooms
// that a restricted join rule allows.
type Summary struct {
	rooms.PublicRoom
	AllowedRoomIDs []string `json:"allowed_room_ids,omitempty"`
	Encryption     string   `json:"encryption,omitempty"`
	RoomVersion    string   `json:"room_version,omitempty"`
}

// ChildEvent is an m.space.child event as the hierarchy shows it: stripped
// state with its origin_server_ts.
type ChildEvent struct {
	Type           string          `json:"type"`
	StateKey       string          `json:"state_key"`
	Content        json.RawMessage `json:"content"`
	Sender         string          `json:"sender"`
	OriginServerTS int64           `json:"origin_server_ts"`
}

// HierarchyRoom is one room of a hierarchy: its summary and, for a
// space-room, its children in the spec's order.
type HierarchyRoom struct {
	Summary
	ChildrenState []ChildEvent `json:"children_state"`
}

// FedHierarchy is the answer of GET /_matrix/federation/v1/hierarchy.
type FedHierarchy struct {
	Room                 HierarchyRoom `json:"room"`
	Children             []Summary     `json:"children"`
	InaccessibleChildren []string      `json:"inaccessible_children"`
}

// Remote asks other servers about rooms this server is not in.
type Remote interface {
	// Hierarchy is GET /_matrix/federation/v1/hierarchy/{roomId} on server.
	Hierarchy(ctx context.Context, server, roomID string, suggestedOnly bool) (*FedHierarchy, error)
}

// Config holds what the service needs.
type Config struct {
	Engine *rooms.Engine
	// Remote reaches other servers; nil on a server without federation.
	Remote Remote
	// Sessions stores GET /hierarchy's pagination sessions.
	Sessions *spacestore.Store
	Log      *slog.Logger
	Now      func() time.Time
}

// Service answers hierarchy and summary requests.
type Service struct {
	engine *rooms.Engine
	remote Remote
	server string
	log    *slog.Logger
	now    func() time.Time

	sessions *spacestore.Store
	// remoteCache holds other servers' answers for a while.
	remoteCache *remoteCache
}

// New returns a service.
func New(c Config) *Service {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{engine: c.Engine, remote: c.Remote, server: c.Engine.ServerName(), log: c.Log, now: c.Now,
		sessions: c.Sessions, remoteCache: newRemoteCache(remoteCacheSize, remoteCacheTTL, c.Now)}
}

// ServerName is this server's name.
func (s *Service) ServerName() string { return s.server }

// maxChildren bounds the m.space.child events read from one space.
const maxChildren = 500

// viewer is who asks: a local user, another server (origin), or, for the
// unauthenticated room summary, no one.
type viewer struct {
	user, origin string
}

// local is a room this server is in, with its current state.
type local struct {
	roomID string
	view   *rooms.StateView
}

// localRoom returns the room's current state if this server has a joined
// member there (its state is then current); nil otherwise.
func (s *Service) localRoom(ctx context.Context, roomID string) (*local, error) {
	in, err := s.engine.ServerInRoom(ctx, roomID, s.server)
	if err != nil {
		if merr.CodeOf(err) == merr.CodeNotFound {
			return nil, nil
		}
		return nil, err
	}
	if !in {
		return nil, nil
	}
	view, err := s.engine.CurrentView(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return &local{roomID: roomID, view: view}, nil
}

// summarize describes a local room; with children, also its space children
// (empty for a room that is not a space).
func (s *Service) summarize(ctx context.Context, l *local, withChildren, suggestedOnly bool) (*HierarchyRoom, error) {
	pr, err := s.engine.DescribeView(ctx, l.roomID, l.view)
	if err != nil {
		return nil, err
	}
	h := &HierarchyRoom{Summary: Summary{PublicRoom: pr}, ChildrenState: []ChildEvent{}}
	if create := l.view.Get(event.TypeCreate, ""); create != nil {
		h.RoomVersion = string(create.Version().ID)
	}
	if ev := l.view.Get(event.TypeEncryption, ""); ev != nil {
		var c struct {
			Algorithm string `json:"algorithm"`
		}
		if json.Unmarshal(ev.Content(), &c) == nil && c.Algorithm == "m.megolm.v1.aes-sha2" {
			h.Encryption = c.Algorithm
		}
	}
	if rule := rooms.JoinRule(l.view); rule == "restricted" || rule == "knock_restricted" {
		if jr := l.view.Get(event.TypeJoinRules, ""); jr != nil {
			h.AllowedRoomIDs = rooms.AllowedRooms(jr.Content())
		}
	}
	if withChildren && pr.RoomType == RoomTypeSpace {
		if h.ChildrenState, err = children(l.view, suggestedOnly); err != nil {
			return nil, err
		}
	}
	return h, l.view.Err()
}

// children are the room's valid m.space.child events (a non-empty via
// list of strings; client-server-api "m.space.child relationship"),
// suggested ones only if asked, in the spec's order ("Ordering of children
// within a space").
func children(view *rooms.StateView, suggestedOnly bool) ([]ChildEvent, error) {
	evs, err := view.Events(func(t event.StateTuple) bool { return t.Type == event.TypeSpaceChild })
	if err != nil {
		return nil, err
	}
	type keyed struct {
		ChildEvent
		order    string
		hasOrder bool
	}
	var out []keyed
	for _, ev := range evs {
		var c struct {
			Via       []json.RawMessage `json:"via"`
			Order     json.RawMessage   `json:"order"`
			Suggested bool              `json:"suggested"`
		}
		if json.Unmarshal(ev.Content(), &c) != nil || !validVia(c.Via) {
			continue
		}
		if suggestedOnly && !c.Suggested {
			continue
		}
		k := keyed{ChildEvent: ChildEvent{Type: ev.Type(), StateKey: *ev.StateKey(), Content: ev.Content(),
			Sender: ev.Sender(), OriginServerTS: ev.OriginServerTS()}}
		k.order, k.hasOrder = validOrder(c.Order)
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.hasOrder != b.hasOrder {
			return a.hasOrder
		}
		if a.hasOrder && a.order != b.order {
			return a.order < b.order
		}
		if a.OriginServerTS != b.OriginServerTS {
			return a.OriginServerTS < b.OriginServerTS
		}
		return a.StateKey < b.StateKey
	})
	if len(out) > maxChildren {
		out = out[:maxChildren]
	}
	res := make([]ChildEvent, len(out))
	for i, k := range out {
		res[i] = k.ChildEvent
	}
	return res, nil
}

func validVia(via []json.RawMessage) bool {
	if len(via) == 0 {
		return false
	}
	for _, v := range via {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return false
		}
	}
	return true
}

// validOrder reads m.space.child's order: a string of at most 50
// characters between U+0020 and U+007E (event schema m.space.child);
// anything else is ignored, so the child sorts by timestamp.
func validOrder(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || len(s) > 50 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", false
		}
	}
	return s, true
}

// viaOf is a child event's via list.
func viaOf(c ChildEvent) []string {
	var v struct {
		Via []string `json:"via"`
	}
	_ = json.Unmarshal(c.Content, &v)
	return v.Via
}

// accessible says whether who may see a room this server is in, by the
// conditions the spec lists for the hierarchy's rooms (client-server-api
// GET /hierarchy, "rooms"): a member (join) or invitee; a public or
// knockable room; a restricted room whose conditions are met; a
// world_readable room. For another server (the federation form), a member
// of that server stands for the user, as Synapse does. membership is the
// user's own.
func (s *Service) accessible(ctx context.Context, l *local, who viewer) (ok bool, membership string, err error) {
	if who.user != "" {
		if m := l.view.Get(event.TypeMember, who.user); m != nil {
			membership = m.Membership()
		}
	}
	if membership == event.Join || membership == event.Invite {
		return true, membership, nil
	}
	rule := rooms.JoinRule(l.view)
	switch rule {
	case "public", "knock", "knock_restricted":
		return true, membership, nil
	}
	if visibility.HistoryVisibility(l.view) == visibility.WorldReadable {
		return true, membership, nil
	}
	if who.origin != "" && originHasMember(l.view, who.origin) {
		return true, membership, nil
	}
	if rule == "restricted" {
		if jr := l.view.Get(event.TypeJoinRules, ""); jr != nil {
			met, err := s.allowedBy(ctx, rooms.AllowedRooms(jr.Content()), who)
			return met, membership, err
		}
	}
	return false, membership, l.view.Err()
}

// allowedBy says whether who meets one of a restricted room's conditions
// as far as this server knows: the user is joined to an allowed room, or
// the server has a joined member there.
func (s *Service) allowedBy(ctx context.Context, allowed []string, who viewer) (bool, error) {
	for _, roomID := range allowed {
		switch {
		case who.user != "":
			ev, err := s.engine.Store().CurrentStateEvent(ctx, roomID, event.TypeMember, who.user)
			if err != nil {
				return false, err
			}
			if ev != nil && ev.Membership() == event.Join {
				return true, nil
			}
		case who.origin != "":
			in, err := s.engine.ServerInRoom(ctx, roomID, who.origin)
			if err != nil && merr.CodeOf(err) != merr.CodeNotFound {
				return false, err
			}
			if in {
				return true, nil
			}
		}
	}
	return false, nil
}

func originHasMember(view *rooms.StateView, origin string) bool {
	for t := range view.IDs {
		if t.Type != event.TypeMember || domainOf(t.StateKey) != origin {
			continue
		}
		if ev := view.Get(t.Type, t.StateKey); ev != nil && (ev.Membership() == event.Join || ev.Membership() == event.Invite) {
			return true
		}
	}
	return false
}

// remoteAccessible applies the same conditions to a room described by
// another server, which already left out what this server may not see.
func (s *Service) remoteAccessible(ctx context.Context, room *Summary, who viewer) (ok bool, membership string, err error) {
	if who.user != "" {
		ev, err := s.engine.Store().CurrentStateEvent(ctx, room.RoomID, event.TypeMember, who.user)
		if err != nil {
			return false, "", err
		}
		if ev != nil {
			membership = ev.Membership()
		}
	}
	if membership == event.Join || membership == event.Invite {
		return true, membership, nil
	}
	switch room.JoinRule {
	case "public", "knock", "knock_restricted":
		return true, membership, nil
	}
	if room.WorldReadable {
		return true, membership, nil
	}
	if room.JoinRule == "restricted" {
		met, err := s.allowedBy(ctx, room.AllowedRoomIDs, who)
		return met, membership, err
	}
	return false, membership, nil
}

// fetchRemote returns a room's hierarchy as another server described it:
// a cached answer, or the first answer of the via servers, asked in
// order; nil when none answers. asked reports whether servers were asked.
func (s *Service) fetchRemote(ctx context.Context, roomID string, via []string, suggestedOnly bool) (fh *FedHierarchy, asked bool) {
	if s.remote == nil {
		return nil, false
	}
	if fh, ok := s.remoteCache.get(remoteKey{roomID: roomID, suggestedOnly: suggestedOnly}); ok {
		return fh, false
	}
	return s.askRemote(ctx, roomID, via, suggestedOnly), true
}

// askRemote asks the via servers, in order, for a room's hierarchy, and
// caches the first answer; nil when none answers.
func (s *Service) askRemote(ctx context.Context, roomID string, via []string, suggestedOnly bool) *FedHierarchy {
	for i, server := range via {
		if i >= maxVia {
			break
		}
		if server == s.server {
			continue
		}
		fh, err := s.remote.Hierarchy(ctx, server, roomID, suggestedOnly)
		if err != nil {
			s.log.Debug("spaces: asking a server for a room's hierarchy failed", "room_id", roomID, "server", server, "err", err)
			continue
		}
		if fh.Room.RoomID != roomID {
			continue
		}
		if fh.Room.ChildrenState == nil {
			fh.Room.ChildrenState = []ChildEvent{}
		}
		s.remoteCache.put(remoteKey{roomID: roomID, suggestedOnly: suggestedOnly}, fh)
		return fh
	}
	return nil
}

// maxVia bounds how many servers are asked about one room.
const maxVia = 3

func domainOf(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[i+1:]
		}
	}
	return ""
}
