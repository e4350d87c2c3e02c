package e2ee

import (
	"context"
	"fmt"
	"sort"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/streams"
	"github.com/myelin-chat/myelin/internal/syncapi"
	"github.com/myelin-chat/myelin/internal/synctoken"
)

// Rooms is what device lists read of the rooms domain (roomstore.Store):
// who shares a room with whom, and how that changed.
type Rooms interface {
	// MembershipsAt is a local user's latest membership per room at a
	// stable room stream position.
	MembershipsAt(ctx context.Context, userID string, pos int64) ([]roomstore.Membership, error)
	// MembershipChanges lists membership events in (from, to].
	MembershipChanges(ctx context.Context, from, to int64, limit int) ([]roomstore.Membership, bool, error)
	// SharingRoom says which of others are joined to a room userID is
	// joined to.
	SharingRoom(ctx context.Context, userID string, others []string) (map[string]bool, error)
	// UsersSharingRoom lists the users joined to a room userID is joined
	// to.
	UsersSharingRoom(ctx context.Context, userID string) (map[string]bool, error)
	// SharesRoomWithServer says whether userID is joined to a room a
	// user of serverName is joined to.
	SharesRoomWithServer(ctx context.Context, userID, serverName string) (bool, error)
	// Members lists a room's members with the given memberships.
	Members(ctx context.Context, roomID string, memberships ...string) (map[string]string, error)
	// UsersSharingRoomExcept lists the users joined to a room other than
	// exceptRoom that userID is joined to.
	UsersSharingRoomExcept(ctx context.Context, userID, exceptRoom string) (map[string]bool, error)
	// PrevMembership is the user's membership in the room before a
	// stream position ("" for none).
	PrevMembership(ctx context.Context, roomID, userID string, pos int64) (string, error)
}

// DeviceListStreamKey is the device-list stream's part in sync tokens.
const DeviceListStreamKey = "dl"

// maxDeviceListUsers bounds the users one sync or /keys/changes looks at
// for each source of changes; past it, every user sharing a room with the
// caller is reported changed (clients then query them all again, which
// is correct, only slower).
const maxDeviceListUsers = 10000

// deviceLists is the device-list stream: a persistent log of changes to
// users' devices and keys (e2ee_device_list_changes), from which /sync
// device_lists and /keys/changes are computed together with the room
// stream's membership changes (end_to_end_encryption.md "Tracking the
// device list for a user").
type deviceLists struct {
	s       *Service
	rooms   Rooms
	tracker *streams.Tracker
	wakes   *trackedWakes
}

func newDeviceLists(ctx context.Context, s *Service, rooms Rooms) (*deviceLists, error) {
	top, err := s.store.MaxDeviceListPos(ctx)
	if err != nil {
		return nil, err
	}
	d := &deviceLists{s: s, rooms: rooms, tracker: streams.NewTracker(top)}
	d.wakes = newTrackedWakes(d.tracker, s.notifier)
	return d, nil
}

// NotifyKeysChanged records that userID's keys changed, for /sync
// device_lists, /keys/changes and (for a local user's devices) other
// servers: with deviceIDs, those devices' keys or names (each sent as an
// m.device_list_update); with none, the user's keys as a whole, such as
// their cross-signing keys, which only local users are told of here
// (m.signing_key_update is the cross-signing service's to send).
func (s *Service) NotifyKeysChanged(ctx context.Context, userID string, deviceIDs ...string) error {
	_, local, err := s.serverOf(userID)
	if err != nil {
		return err
	}
	changes := make([]e2eestore.DeviceListChange, 0, max(len(deviceIDs), 1))
	if len(deviceIDs) == 0 {
		changes = append(changes, e2eestore.DeviceListChange{UserID: userID})
	}
	for _, d := range deviceIDs {
		changes = append(changes, e2eestore.DeviceListChange{UserID: userID, DeviceID: d, Chained: local})
	}
	return s.devLists.record(ctx, changes, local)
}

// record stores changes at new positions, wakes the syncs of local users
// who share a room with their users, and sends a local user's chained
// changes to the servers that share a room with them.
func (d *deviceLists) record(ctx context.Context, changes []e2eestore.DeviceListChange, sendRemote bool) error {
	if len(changes) == 0 {
		return nil
	}
	var top int64
	for i := range changes {
		changes[i].Pos = d.tracker.Reserve()
		top = changes[i].Pos
	}
	defer func() {
		for _, c := range changes {
			d.tracker.Finish(c.Pos)
		}
	}()
	if err := d.s.store.AddDeviceListChanges(ctx, changes); err != nil {
		return err
	}
	userID := changes[0].UserID
	if sendRemote {
		d.fold(ctx, userID)
	}
	sharing, err := d.rooms.UsersSharingRoom(ctx, userID)
	if err != nil {
		return err
	}
	wake := []string{}
	servers := map[string]bool{}
	for u := range sharing {
		if server, local, err := d.s.serverOf(u); err == nil && local {
			wake = append(wake, u)
		} else if err == nil {
			servers[server] = true
		}
	}
	if _, local, _ := d.s.serverOf(userID); local && !sharing[userID] {
		wake = append(wake, userID)
	}
	d.wakes.add(top, wake)
	if sendRemote && len(servers) > 0 {
		// The change is stored; an EDU lost to a crash before it is
		// queued shows as a gap in the next one's prev_id, and the
		// receiver then fetches the whole list.
		if err := d.s.sendDeviceListUpdates(ctx, changes, servers); err != nil {
			d.s.log.Warn("queueing m.device_list_update failed", "user", userID, "err", err)
		}
	}
	return nil
}

// fold bounds a local user's rows in the change log by their devices
// (e2eestore.FoldDeviceListChanges): without it, every device ID the user
// ever had would keep a row. It runs after each change of theirs; a
// failure only leaves rows for the next one to fold.
func (d *deviceLists) fold(ctx context.Context, userID string) {
	devices, err := d.s.devices.ListDevices(ctx, userID)
	if err == nil {
		keep := make([]string, 0, len(devices))
		for _, dev := range devices {
			keep = append(keep, dev.DeviceID)
		}
		_, err = d.s.store.FoldDeviceListChanges(ctx, userID, keep)
	}
	if err != nil {
		d.s.log.Warn("folding the device-list change log failed", "user", userID, "err", err)
	}
}

// DeviceListStream is the device-list stream of /sync.
type DeviceListStream struct{ d *deviceLists }

// DeviceListStream returns the service's device-list stream for the Syncer.
func (s *Service) DeviceListStream() *DeviceListStream { return &DeviceListStream{s.devLists} }

// Key is "dl" in sync tokens.
func (t *DeviceListStream) Key() string { return DeviceListStreamKey }

// Current is the highest position whose changes are readable.
func (t *DeviceListStream) Current() int64 { return t.d.tracker.Current() }

// OnAdvance registers fn to be called whenever Current grows (for
// followers of the whole stream, like appservice transactions).
func (t *DeviceListStream) OnAdvance(fn func(current int64)) { t.d.tracker.OnAdvance(fn) }

// ChangedUsers returns the users whose devices or keys changed at
// positions in (from, to], at most limit; more reports that there were
// more.
func (t *DeviceListStream) ChangedUsers(ctx context.Context, from, to int64, limit int) (users []string, more bool, err error) {
	return t.d.s.store.UsersWithDeviceListChanges(ctx, from, to, limit)
}

// FollowsRooms: who shares a room with the caller changes with the room
// stream.
func (t *DeviceListStream) FollowsRooms() {}

var _ syncapi.RoomFollower = (*DeviceListStream)(nil)

// Sync adds device_lists to incremental syncs. Initial syncs carry none:
// a client starting afresh queries the keys of everyone it needs.
func (t *DeviceListStream) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	if sr.Initial {
		return nil
	}
	changed, left, err := t.d.changes(ctx, sr.Req.UserID, sr.From, sr.To, sr.RoomFrom, sr.RoomTo)
	if err != nil || len(changed)+len(left) == 0 {
		return err
	}
	sr.Resp.DeviceLists = &syncapi.DeviceLists{Changed: changed, Left: left}
	return nil
}

// changes computes, for userID, the users whose device lists changed and
// those who no longer share a room with them, between device-list
// positions (from, to] and room positions (roomFrom, roomTo]
// (end_to_end_encryption.md "Tracking the device list for a user"):
//
//   - changed: users sharing a room with userID now (and userID) whose
//     devices or keys changed; users who newly share a room (they joined
//     one of userID's rooms, or userID joined one of theirs);
//   - left: users who were in a room with userID, left it or saw userID
//     leave it, and share no room with them any more.
func (d *deviceLists) changes(ctx context.Context, userID string, from, to, roomFrom, roomTo int64) (changed, left []string, err error) {
	changedSet := map[string]bool{}
	leftCands := map[string]bool{}
	everyone := false
	if from < to {
		users, more, err := d.s.store.UsersWithDeviceListChanges(ctx, from, to, maxDeviceListUsers)
		if err != nil {
			return nil, nil, err
		}
		everyone = everyone || more
		for _, u := range users {
			changedSet[u] = true
		}
	}
	self := changedSet[userID]
	if roomFrom < roomTo {
		more, err := d.membershipChanges(ctx, userID, roomFrom, roomTo, changedSet, leftCands)
		if err != nil {
			return nil, nil, err
		}
		everyone = everyone || more
	}
	delete(changedSet, userID)
	delete(leftCands, userID)
	cands := make([]string, 0, len(changedSet)+len(leftCands))
	for u := range changedSet {
		cands = append(cands, u)
	}
	for u := range leftCands {
		if !changedSet[u] {
			cands = append(cands, u)
		}
	}
	var share map[string]bool
	if everyone {
		share, err = d.rooms.UsersSharingRoom(ctx, userID)
		for u := range share {
			changedSet[u] = true
		}
	} else if len(cands) > 0 {
		share, err = d.rooms.SharingRoom(ctx, userID, cands)
	}
	if err != nil {
		return nil, nil, err
	}
	for u := range changedSet {
		if share[u] && u != userID {
			changed = append(changed, u)
		}
	}
	if self || everyone {
		changed = append(changed, userID)
	}
	for u := range leftCands {
		if !share[u] {
			left = append(left, u)
		}
	}
	sort.Strings(changed)
	sort.Strings(left)
	return changed, left, nil
}

// membershipChanges adds to changed the users who may newly share a room
// with userID between the room positions, and to left those who may no
// longer share one. It reports whether there were too many changes to
// look at.
func (d *deviceLists) membershipChanges(ctx context.Context, userID string, roomFrom, roomTo int64, changed, left map[string]bool) (bool, error) {
	before, err := d.joinedAt(ctx, userID, roomFrom)
	if err != nil {
		return false, err
	}
	after, err := d.joinedAt(ctx, userID, roomTo)
	if err != nil {
		return false, err
	}
	// Rooms the user joined: every member is new company. Rooms the user
	// left: every member may be gone.
	for r := range after {
		if !before[r] {
			if err := d.addMembers(ctx, r, changed); err != nil {
				return false, err
			}
		}
	}
	for r := range before {
		if !after[r] {
			if err := d.addMembers(ctx, r, left); err != nil {
				return false, err
			}
		}
	}
	ms, more, err := d.rooms.MembershipChanges(ctx, roomFrom, roomTo, maxDeviceListUsers)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.UserID == userID || !(after[m.RoomID] || before[m.RoomID]) {
			continue
		}
		switch m.Membership {
		case event.Join:
			changed[m.UserID] = true
		case event.Leave, event.Ban:
			left[m.UserID] = true
		}
	}
	return more, nil
}

func (d *deviceLists) joinedAt(ctx context.Context, userID string, pos int64) (map[string]bool, error) {
	ms, err := d.rooms.MembershipsAt(ctx, userID, pos)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range ms {
		if m.Membership == event.Join {
			out[m.RoomID] = true
		}
	}
	return out, nil
}

func (d *deviceLists) addMembers(ctx context.Context, roomID string, into map[string]bool) error {
	members, err := d.rooms.Members(ctx, roomID, event.Join)
	for u := range members {
		into[u] = true
	}
	return err
}

// KeyChanges answers GET /keys/changes: the users whose device lists
// changed between two sync tokens, and those who left (keys.yaml).
// Tokens from the future are read as now.
func (s *Service) KeyChanges(ctx context.Context, userID, fromTok, toTok string) (changed, left []string, err error) {
	from, err := synctoken.Parse(fromTok, 0)
	if err != nil {
		return nil, nil, merr.InvalidParam(fmt.Sprintf("invalid from token %q", fromTok))
	}
	to, err := synctoken.Parse(toTok, 0)
	if err != nil {
		return nil, nil, merr.InvalidParam(fmt.Sprintf("invalid to token %q", toTok))
	}
	d := s.devLists
	now, roomNow := d.tracker.Current(), s.roomNow()
	dlFrom, dlTo := min(from.Pos(DeviceListStreamKey), now), min(to.Pos(DeviceListStreamKey), now)
	roomFrom, roomTo := min(from.Room, roomNow), min(to.Room, roomNow)
	changed, left, err = d.changes(ctx, userID, dlFrom, dlTo, roomFrom, roomTo)
	if changed == nil {
		changed = []string{}
	}
	if left == nil {
		left = []string{}
	}
	return changed, left, err
}
