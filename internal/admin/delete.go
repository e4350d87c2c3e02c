package admin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// DeleteRoomRequest is the body of Synapse's Delete Room API
// (docs/admin_api/rooms.md, "Delete Room API").
type DeleteRoomRequest struct {
	// NewRoomUserID, when set, creates a room administered by this local
	// user, moves the local members and aliases there and posts Message.
	NewRoomUserID string
	RoomName      string
	Message       string
	// Block stops local users joining the room again (also for a room
	// this server does not know).
	Block bool
	// Purge removes the room from the database once no local user is in
	// it; ForcePurge purges even if some could not be made to leave.
	Purge, ForcePurge bool
}

// Synapse's defaults for the new room.
const (
	defaultShutdownRoomName = "Content Violation Notification"
	defaultShutdownMessage  = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)

// ShutdownResult is what a deletion did, in Synapse's shape.
type ShutdownResult struct {
	KickedUsers       []string `json:"kicked_users"`
	FailedToKickUsers []string `json:"failed_to_kick_users"`
	LocalAliases      []string `json:"local_aliases"`
	NewRoomID         *string  `json:"new_room_id"`
}

// RoomPurger removes what one domain stores about a room (receipts,
// notifications...). The rooms storage itself is purged by the room
// engine, with the indexes derived from its events (relations, search) in
// the same transaction.
type RoomPurger interface {
	PurgeRoom(ctx context.Context, roomID string) error
}

// CheckDeleteRoom validates a deletion before it starts, so that the
// asynchronous API can refuse a bad request at once.
func (s *Service) CheckDeleteRoom(ctx context.Context, roomID string, req DeleteRoomRequest) error {
	if !ids.ValidRoomID(roomID) {
		return merr.InvalidParam(roomID + " is not a legal room ID")
	}
	if req.NewRoomUserID != "" {
		if !strings.HasSuffix(req.NewRoomUserID, ":"+s.Rooms.ServerName()) {
			return merr.InvalidParam("User must be our own: " + req.NewRoomUserID)
		}
		if _, err := s.Users.GetUserForAdmin(ctx, req.NewRoomUserID); err != nil {
			if errors.Is(err, merr.ErrNotFound) {
				return merr.NotFound("User not found: " + req.NewRoomUserID)
			}
			return err
		}
	}
	if _, err := s.Rooms.Store().Room(ctx, roomID); errors.Is(err, merr.ErrNotFound) {
		if !req.Block {
			// Synapse: deleting an unknown room is only a way to block it.
			return merr.BadJSON("Unknown room id " + roomID + ": only block may be used on a room this server does not know")
		}
	} else if err != nil {
		return err
	}
	return nil
}

// DeleteRoom shuts a room down for this server's users as Synapse's
// Delete Room API does: block it if asked, make every local member leave
// and forget it (joining them to a new room when NewRoomUserID is set),
// move or remove its local aliases, take it out of the directory, and
// purge it. progress is told when the purge begins (Synapse's "purging"
// status). Users of other servers are not affected.
func (s *Service) DeleteRoom(ctx context.Context, adminID, roomID string, req DeleteRoomRequest, progress func(status string, res *ShutdownResult)) (*ShutdownResult, error) {
	if err := s.CheckDeleteRoom(ctx, roomID, req); err != nil {
		return nil, err
	}
	res := &ShutdownResult{KickedUsers: []string{}, FailedToKickUsers: []string{}, LocalAliases: []string{}}
	st := s.Rooms.Store()
	if req.Block {
		if err := st.BlockRoom(ctx, roomID, adminID, true); err != nil {
			return nil, err
		}
	}
	if _, err := st.Room(ctx, roomID); errors.Is(err, merr.ErrNotFound) {
		return res, nil // blocked, and nothing else to do
	} else if err != nil {
		return nil, err
	}

	if req.NewRoomUserID != "" {
		name, message := req.RoomName, req.Message
		if name == "" {
			name = defaultShutdownRoomName
		}
		if message == "" {
			message = defaultShutdownMessage
		}
		// As Synapse: a public room in which everyone but its admin has
		// power -10, so the moved users can read but not talk.
		newRoom, err := s.Rooms.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: req.NewRoomUserID, Preset: "public_chat", Name: &name,
			PowerLevelOverride: map[string]any{"users_default": -10}})
		if err != nil {
			return nil, err
		}
		msg := &event.Builder{Type: event.TypeMessage, Sender: req.NewRoomUserID,
			Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": message})}
		if _, err := s.Rooms.Send(ctx, newRoom, msg, nil); err != nil {
			return nil, err
		}
		res.NewRoomID = &newRoom
	}

	members, err := st.Members(ctx, roomID)
	if err != nil {
		return nil, err
	}
	local := ":" + s.Rooms.ServerName()
	for user, m := range members {
		if !strings.HasSuffix(user, local) || (m != event.Join && m != event.Invite && m != event.Knock) {
			continue
		}
		target := user
		leave := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: user,
			Content: rooms.Content(map[string]any{"membership": event.Leave})}
		if _, err := s.Rooms.Send(ctx, roomID, leave, nil); err != nil {
			res.FailedToKickUsers = append(res.FailedToKickUsers, user)
			continue
		}
		if err := st.Forget(ctx, user, roomID); err != nil {
			return nil, err
		}
		if res.NewRoomID != nil && user != req.NewRoomUserID {
			if err := s.JoinUser(ctx, req.NewRoomUserID, user, *res.NewRoomID); err != nil {
				res.FailedToKickUsers = append(res.FailedToKickUsers, user)
				continue
			}
		}
		res.KickedUsers = append(res.KickedUsers, user)
	}

	aliases, err := st.AliasesForRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	for _, alias := range aliases {
		_, creator, err := st.Alias(ctx, alias)
		if err != nil && !errors.Is(err, merr.ErrNotFound) {
			return nil, err
		}
		if err := st.DeleteAlias(ctx, alias); err != nil && !errors.Is(err, merr.ErrNotFound) {
			return nil, err
		}
		if res.NewRoomID != nil {
			if err := st.CreateAlias(ctx, alias, *res.NewRoomID, creator); err != nil {
				return nil, err
			}
		}
		res.LocalAliases = append(res.LocalAliases, alias)
	}
	if err := st.SetPublic(ctx, roomID, false); err != nil {
		return nil, err
	}

	if !req.Purge || (len(res.FailedToKickUsers) > 0 && !req.ForcePurge) {
		if req.Purge {
			return res, merr.BadJSON("Some local users could not be made to leave the room; set force_purge to purge it anyway")
		}
		return res, nil
	}
	if progress != nil {
		progress("purging", res)
	}
	return res, s.purgeRoom(ctx, roomID)
}

// purgeRoom removes the room from every store. The federation sender must
// first have queued the members' leaves, which it does within moments.
func (s *Service) purgeRoom(ctx context.Context, roomID string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.Rooms.PurgeRoom(ctx, roomID)
		if !errors.Is(err, roomstore.ErrOutboxPending) {
			if err != nil {
				return err
			}
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, p := range s.Purgers {
		if err := p.PurgeRoom(ctx, roomID); err != nil {
			return err
		}
	}
	return nil
}

// deletionJSON is a deletion's result as stored with its task.
func deletionJSON(res *ShutdownResult) json.RawMessage {
	b, _ := json.Marshal(res)
	return b
}
