package admin

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/eventauth"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/rooms"
)

// currentState reads a room's current state events for eventauth; an
// event that cannot be read counts as absent.
type currentState struct {
	ctx    context.Context
	s      *Service
	roomID string
}

func (c currentState) Get(typ, stateKey string) *event.Event {
	e, err := c.s.Rooms.Store().CurrentStateEvent(c.ctx, c.roomID, typ, stateKey)
	if err != nil || e == nil {
		return nil
	}
	return e.Event
}

// roomAdminLevel is what a room v12 creator (whose power is infinite and
// cannot be granted) hands out: the usual top level.
const roomAdminLevel = 100

// MakeRoomAdmin is Synapse's POST /rooms/{roomIdOrAlias}/make_room_admin:
// the local member with the most power who may change the power levels
// gives userID the same level (100 when that member is a room v12
// creator), and, unless the room is public, invites userID if they are
// neither joined nor invited.
func (s *Service) MakeRoomAdmin(ctx context.Context, roomID, userID string) error {
	st := s.Rooms.Store()
	room, err := st.Room(ctx, roomID)
	if err != nil {
		return err
	}
	state := currentState{ctx: ctx, s: s, roomID: roomID}
	pl, err := eventauth.PowerLevelsFrom(state, room.Version)
	if err != nil {
		return err
	}
	members, err := st.Members(ctx, roomID)
	if err != nil {
		return err
	}
	need := pl.EventLevel(event.TypePowerLevels, true)
	var best string
	var bestLevel int64
	for _, u := range slices.Sorted(maps.Keys(members)) {
		uid, err := ids.ParseUserID(u)
		if err != nil || uid.Server != s.Users.ServerName() || members[u] != event.Join {
			continue
		}
		if l := pl.UserLevel(u); l >= need && (best == "" || l > bestLevel) {
			best, bestLevel = u, l
		}
	}
	if best == "" {
		return merr.BadRequest(merr.CodeUnknown, "No local admin user in room with power to update power levels.")
	}
	level := bestLevel
	if pl.Creators[best] {
		level = roomAdminLevel
	}
	if pl.UserLevel(userID) < level {
		content := map[string]any{}
		if pl.Event != nil {
			if err := json.Unmarshal(pl.Event.Content(), &content); err != nil {
				return err
			}
		}
		users, _ := content["users"].(map[string]any)
		if users == nil {
			users = map[string]any{}
		}
		users[userID] = level
		content["users"] = users
		empty := ""
		b := &event.Builder{Type: event.TypePowerLevels, StateKey: &empty, Sender: best, Content: rooms.Content(content)}
		if _, err := s.Rooms.Send(ctx, roomID, b, nil); err != nil {
			return err
		}
	}
	rule := ""
	if e := state.Get(event.TypeJoinRules, ""); e != nil {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		_ = json.Unmarshal(e.Content(), &c)
		rule = c.JoinRule
	}
	if m := members[userID]; rule != "public" && m != event.Join && m != event.Invite {
		target := userID
		b := &event.Builder{Type: event.TypeMember, StateKey: &target, Sender: best,
			Content: rooms.Content(map[string]any{"membership": event.Invite})}
		if _, err := s.Rooms.Send(ctx, roomID, b, nil); err != nil {
			return err
		}
	}
	return nil
}
