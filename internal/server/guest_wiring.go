package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// guestEvictionTimeout bounds the work one guest access change starts.
const guestEvictionTimeout = time.Minute

// wireGuestEviction enforces the guest access module's server behaviour:
// when a room's m.room.guest_access stops being can_join, this server's
// guests in the room are made to leave (client-server-api "Guest Access",
// "the server MUST set those users' m.room.member state to leave"). Each
// guest leaves as itself, as in Synapse.
func (s *Server) wireGuestEviction(acct accounts.Store) {
	s.Rooms.OnCommit(func(batch []rooms.Committed) {
		for _, c := range batch {
			ev := c.Event
			if ev.Type() != event.TypeGuestAccess || !ev.StateKeyEquals("") {
				continue
			}
			var content struct {
				GuestAccess string `json:"guest_access"`
			}
			if json.Unmarshal(ev.Content(), &content) == nil && content.GuestAccess == "can_join" {
				continue
			}
			go s.evictGuests(acct, ev.RoomID())
		}
	})
}

func (s *Server) evictGuests(acct accounts.Store, roomID string) {
	ctx, cancel := context.WithTimeout(context.Background(), guestEvictionTimeout)
	defer cancel()
	joined, err := s.Rooms.Store().Members(ctx, roomID, event.Join)
	if err != nil {
		s.Log.Warn("guest access: listing members failed", "room_id", roomID, "err", err)
		return
	}
	for userID := range joined {
		if domainOf(userID) != s.Config.ServerName {
			continue
		}
		u, err := acct.GetUser(ctx, userID)
		if err != nil || !u.IsGuest {
			continue
		}
		leave := &event.Builder{Type: event.TypeMember, StateKey: &userID, Sender: userID, Content: rooms.Content(map[string]any{"membership": event.Leave})}
		if _, err := s.Rooms.Send(ctx, roomID, leave, nil); err != nil {
			s.Log.Warn("guest access: a guest could not be made to leave", "room_id", roomID, "user_id", userID, "err", err)
		}
	}
}
