// Package servernotices sends server notices (client-server-api "Server
// Notices"): messages from the server to a user, in one room per user
// that a system user runs, tagged m.server_notice for the user. What the
// spec leaves to the server follows Synapse's server_notices config and
// its send_server_notice admin API: the system user's name and avatar,
// the room's name, topic and avatar, invite or auto-join.
package servernotices

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/tags"
	"github.com/myelin-chat/myelin/internal/users"
)

// Tag identifies the notices room to its user (client-server-api "Server
// Notices": "Servers must identify this room to clients with the
// m.server_notice tag").
const Tag = "m.server_notice"

// Config is Synapse's server_notices block.
type Config struct {
	// SystemLocalpart is the sending user's localpart; "" turns server
	// notices off.
	SystemLocalpart   string
	SystemDisplayName string
	SystemAvatarURL   string
	RoomName          string
	RoomAvatarURL     string
	RoomTopic         string
	// AutoJoin joins the user to the room instead of inviting them.
	AutoJoin bool
}

// Service sends notices. Safe for concurrent use.
type Service struct {
	cfg    Config
	system string
	users  *users.Service
	rooms  *rooms.Engine
	tags   *tags.Service
	// mu serializes finding or making a user's room, so that two notices
	// at once make one room (one process serves the rooms).
	mu sync.Mutex
}

// New returns the service for the server serverName; nil when cfg turns
// server notices off.
func New(cfg Config, serverName string, u *users.Service, r *rooms.Engine, t *tags.Service) *Service {
	if cfg.SystemLocalpart == "" {
		return nil
	}
	return &Service{cfg: cfg, system: "@" + cfg.SystemLocalpart + ":" + serverName, users: u, rooms: r, tags: t}
}

// SystemUserID is the user the notices come from.
func (s *Service) SystemUserID() string { return s.system }

// IsNoticeRoom reports whether roomID is a notices room: one the system
// user is joined to, as Synapse tells them (the system user joins no
// other room).
func (s *Service) IsNoticeRoom(ctx context.Context, roomID string) (bool, error) {
	if s == nil {
		return false, nil
	}
	return s.rooms.IsJoined(ctx, roomID, s.system)
}

// Notice is one notice to send.
type Notice struct {
	// UserID is the local user it goes to.
	UserID string
	// Type is the event type (default m.room.message); StateKey, when not
	// nil, makes it a state event, as Synapse's API allows.
	Type     string
	StateKey *string
	Content  json.RawMessage
	// TxnID, when not "", makes a retry answer with the first event
	// (PUT send_server_notice/{txnId}); Requester scopes it.
	TxnID, Requester string
}

// Send sends a notice to a local user, making their notices room first if
// they have none, and returns the event's ID. 404 "User not found" for an
// unknown user.
func (s *Service) Send(ctx context.Context, n Notice) (string, error) {
	if _, err := s.users.GetUserForAdmin(ctx, n.UserID); err != nil {
		return "", err
	}
	if err := s.ensureSystemUser(ctx); err != nil {
		return "", err
	}
	roomID, err := s.roomFor(ctx, n.UserID)
	if err != nil {
		return "", err
	}
	typ := n.Type
	if typ == "" {
		typ = event.TypeMessage
	}
	b := &event.Builder{Type: typ, StateKey: n.StateKey, Sender: s.system, Content: n.Content}
	var txn *rooms.Txn
	if n.TxnID != "" {
		// The system user has no device: the requesting admin stands in
		// for one, so two admins' transaction IDs never collide.
		txn = &rooms.Txn{UserID: s.system, DeviceID: "admin " + n.Requester, TxnID: n.TxnID, Endpoint: rooms.TxnSend}
	}
	ev, err := s.rooms.Send(ctx, roomID, b, txn)
	if err != nil {
		return "", err
	}
	return ev.EventID(), nil
}

// ensureSystemUser registers the system user on first use, with no
// password (no one logs in as it) and the configured profile.
func (s *Service) ensureSystemUser(ctx context.Context) error {
	if _, err := s.users.Store().GetUser(ctx, s.system); err == nil {
		return nil
	} else if !errors.Is(err, merr.ErrNotFound) {
		return err
	}
	_, err := s.users.Register(ctx, users.RegisterRequest{Username: s.cfg.SystemLocalpart, DisplayName: s.cfg.SystemDisplayName,
		InhibitLogin: true, SkipPasswordPolicy: true})
	if err != nil && merr.CodeOf(err) != merr.CodeUserInUse {
		return err
	}
	if s.cfg.SystemAvatarURL != "" {
		return s.users.SetAvatarURL(ctx, s.system, s.cfg.SystemAvatarURL)
	}
	return nil
}

// roomFor returns the user's notices room: one the system user is in and
// the user is invited to or joined, else a new one.
func (s *Service) roomFor(ctx context.Context, userID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	joined, err := s.rooms.JoinedRooms(ctx, s.system)
	if err != nil {
		return "", err
	}
	for _, roomID := range joined {
		m, err := s.rooms.State(ctx, roomID, event.TypeMember, userID)
		if err != nil {
			continue
		}
		if ms := m.Membership(); ms == event.Join || ms == event.Invite {
			return roomID, nil
		}
	}
	return s.newRoom(ctx, userID)
}

// newRoom makes a user's notices room as Synapse does: a private room the
// system user runs, where the user's power level (users_default -10)
// lets them read but not write, tagged for the user, who is invited or
// joined.
func (s *Service) newRoom(ctx context.Context, userID string) (string, error) {
	member := map[string]any{}
	if s.cfg.SystemDisplayName != "" {
		member["displayname"] = s.cfg.SystemDisplayName
	}
	if s.cfg.SystemAvatarURL != "" {
		member["avatar_url"] = s.cfg.SystemAvatarURL
	}
	req := rooms.CreateRoomRequest{Creator: s.system, CreatorMember: member, Preset: "private_chat",
		PowerLevelOverride: map[string]any{"users_default": -10}, Invite: []string{userID}}
	if s.cfg.RoomName != "" {
		req.Name = &s.cfg.RoomName
	}
	if s.cfg.RoomTopic != "" {
		req.Topic = &s.cfg.RoomTopic
	}
	if s.cfg.RoomAvatarURL != "" {
		req.InitialState = []rooms.StateInput{{Type: "m.room.avatar", Content: rooms.Content(map[string]string{"url": s.cfg.RoomAvatarURL})}}
	}
	roomID, err := s.rooms.CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	if err := s.tags.Put(ctx, userID, roomID, Tag, json.RawMessage(`{}`)); err != nil {
		return "", err
	}
	if s.cfg.AutoJoin {
		uid := userID
		b := &event.Builder{Type: event.TypeMember, StateKey: &uid, Sender: userID, Content: rooms.Content(map[string]string{"membership": event.Join})}
		if _, err := s.rooms.Send(ctx, roomID, b, nil); err != nil {
			return "", err
		}
	}
	return roomID, nil
}
