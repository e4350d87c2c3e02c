package e2ee

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// MemberChange is one committed membership event.
type MemberChange struct {
	RoomID, UserID, Membership string
	StreamPos                  int64
}

// announceTimeout bounds the background work of one batch of membership
// changes.
const announceTimeout = time.Minute

// MembershipsChanged keeps device lists right as who shares a room with
// whom changes; it runs after each committed batch of room events:
//
//   - another server's user who joins a room here gets their cached device
//     list marked stale at once, before anyone can query it: while they
//     shared no room with a local user their server sent us no updates;
//   - another server's user who no longer shares any room with a local user
//     (they left, or the last local user left a room they are in) gets
//     their cached list marked stale too, as Synapse marks it unsubscribed:
//     their server stops sending updates, so when a room is shared again,
//     whoever joins, the list is fetched before it is used;
//   - a local user's new join sends their devices to the room's servers
//     that shared no room with them (server-server-api "Device
//     Management": updates must be sent "when that user joins a room
//     which contains servers which are not already receiving updates for
//     that user's device list").
//
// device_lists.changed of local users needs nothing here: it is computed
// from the membership changes themselves (deviceLists.changes).
func (s *Service) MembershipsChanged(ctx context.Context, changes []MemberChange) {
	var joinedRemote []string
	for _, c := range changes {
		if _, local, err := s.serverOf(c.UserID); err == nil && !local && c.Membership == event.Join {
			joinedRemote = append(joinedRemote, c.UserID)
		}
	}
	s.RemoteUsersJoined(ctx, joinedRemote)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
		defer cancel()
		s.afterMemberships(ctx, changes)
	}()
}

// afterMemberships is MembershipsChanged's work that may wait: the lists
// of users who stopped sharing rooms, and the devices of new joiners.
func (s *Service) afterMemberships(ctx context.Context, changes []MemberChange) {
	rooms := s.devLists.rooms
	var maybeLeft []string
	leftRooms := map[string]bool{}
	announce := map[string][]string{} // room → local users newly joined
	for _, c := range changes {
		_, local, err := s.serverOf(c.UserID)
		if err != nil {
			continue
		}
		switch {
		case c.Membership == event.Join && local:
			prev, err := rooms.PrevMembership(ctx, c.RoomID, c.UserID, c.StreamPos)
			if err != nil {
				s.log.Warn("reading a previous membership", "user", c.UserID, "room_id", c.RoomID, "err", err)
				continue
			}
			if prev != event.Join { // not a change of profile
				announce[c.RoomID] = append(announce[c.RoomID], c.UserID)
			}
		case c.Membership == event.Leave || c.Membership == event.Ban:
			if local {
				leftRooms[c.RoomID] = true
			} else {
				maybeLeft = append(maybeLeft, c.UserID)
			}
		}
	}
	for roomID := range leftRooms {
		members, err := rooms.Members(ctx, roomID, event.Join)
		if err != nil {
			s.log.Warn("reading a room's members", "room_id", roomID, "err", err)
			continue
		}
		var remote []string
		for u := range members {
			if _, local, err := s.serverOf(u); err == nil && local {
				remote = nil // local users remain: the room is still shared
				break
			} else if err == nil {
				remote = append(remote, u)
			}
		}
		maybeLeft = append(maybeLeft, remote...)
	}
	if err := s.unsubscribeLeft(ctx, maybeLeft); err != nil {
		s.log.Warn("marking the device lists of users who left stale", "err", err)
	}
	for roomID, users := range announce {
		if err := s.announceDevices(ctx, roomID, users); err != nil {
			s.log.Warn("sending a joining user's devices to the room's servers", "room_id", roomID, "err", err)
		}
	}
}

// unsubscribeLeft marks stale the cached lists of those of userIDs who
// share no room with a local user any more.
func (s *Service) unsubscribeLeft(ctx context.Context, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	cached, err := s.store.CachedRemoteUsers(ctx, userIDs)
	if err != nil {
		return err
	}
	for _, u := range cached {
		tracked, err := s.tracked(ctx, u)
		if err != nil {
			return err
		}
		if !tracked {
			if err := s.store.MarkRemoteStale(ctx, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// announceDevices sends the devices of users, who just joined roomID, to
// the room's servers that shared no other room with them, each device's
// latest m.device_list_update again: a server that cached an older list
// sees a gap in prev_id and fetches the list, one that cached none learns
// of the user's devices.
func (s *Service) announceDevices(ctx context.Context, roomID string, users []string) error {
	if s.fed == nil {
		return nil
	}
	members, err := s.devLists.rooms.Members(ctx, roomID, event.Join)
	if err != nil {
		return err
	}
	roomServers := map[string]bool{}
	for u := range members {
		if server, local, err := s.serverOf(u); err == nil && !local {
			roomServers[server] = true
		}
	}
	if len(roomServers) == 0 {
		return nil
	}
	for _, userID := range users {
		before, err := s.devLists.rooms.UsersSharingRoomExcept(ctx, userID, roomID)
		if err != nil {
			return err
		}
		servers := map[string]bool{}
		for server := range roomServers {
			servers[server] = true
		}
		for u := range before {
			if server, _, err := s.serverOf(u); err == nil {
				delete(servers, server)
			}
		}
		if len(servers) == 0 {
			continue
		}
		changes, err := s.currentDeviceChanges(ctx, userID)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			if err := s.sendDeviceListUpdates(ctx, changes, servers); err != nil {
				return err
			}
		}
	}
	return nil
}

// currentDeviceChanges is the latest chained change of each device the
// user has now.
func (s *Service) currentDeviceChanges(ctx context.Context, userID string) ([]e2eestore.DeviceListChange, error) {
	changes, err := s.store.LatestDeviceChanges(ctx, userID)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	devices, err := s.devices.ListDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	exists := map[string]bool{}
	for _, d := range devices {
		exists[d.DeviceID] = true
	}
	out := changes[:0]
	for _, c := range changes {
		if exists[c.DeviceID] {
			out = append(out, c)
		}
	}
	return out, nil
}
