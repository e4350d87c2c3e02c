package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// ResolveRoom maps a room ID or a local alias to a room this server holds.
func (s *Service) ResolveRoom(ctx context.Context, roomIDOrAlias string) (string, error) {
	roomID := roomIDOrAlias
	if strings.HasPrefix(roomIDOrAlias, "#") {
		id, _, err := s.Rooms.Store().Alias(ctx, roomIDOrAlias)
		if errors.Is(err, merr.ErrNotFound) {
			return "", merr.NotFound("Room alias " + roomIDOrAlias + " not found")
		}
		if err != nil {
			return "", err
		}
		roomID = id
	} else if !strings.HasPrefix(roomIDOrAlias, "!") {
		return "", merr.InvalidParam(roomIDOrAlias + " was not legal room ID or room alias")
	}
	if _, err := s.Rooms.Store().Room(ctx, roomID); errors.Is(err, merr.ErrNotFound) {
		return "", ErrRoomNotFound
	} else if err != nil {
		return "", err
	}
	return roomID, nil
}

// JoinUser makes a local user join a room this server is in, as Synapse's
// POST /_synapse/admin/v1/join does: unless the room is public the admin
// invites the user first, which needs the admin to be a member allowed to
// invite (the room's own rules decide). Joining through other servers is
// not offered here.
func (s *Service) JoinUser(ctx context.Context, adminID, userID, roomID string) error {
	st := s.Rooms.Store()
	rule := ""
	e, err := st.CurrentStateEvent(ctx, roomID, event.TypeJoinRules, "")
	if err != nil {
		return err
	}
	if e != nil {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		_ = json.Unmarshal(e.Content(), &c)
		rule = c.JoinRule
	}
	cur, _ := st.Members(ctx, roomID)
	if rule != "public" && cur[userID] != event.Join && cur[userID] != event.Invite {
		target := userID
		invite := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: adminID,
			Content: rooms.Content(map[string]any{"membership": event.Invite})}
		if _, err := s.Rooms.Send(ctx, roomID, invite, nil); err != nil {
			return err
		}
	}
	content := map[string]any{"membership": event.Join}
	if p, err := s.Users.GetProfile(ctx, userID); err == nil {
		if p.DisplayName != "" {
			content["displayname"] = p.DisplayName
		}
		if p.AvatarURL != "" {
			content["avatar_url"] = p.AvatarURL
		}
	}
	target := userID
	join := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: userID, Content: rooms.Content(content)}
	_, err = s.Rooms.Send(ctx, roomID, join, nil)
	return err
}
