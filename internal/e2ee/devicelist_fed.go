package e2ee

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"time"

	"github.com/myelin-chat/myelin/internal/canonicaljson"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// EDUDeviceListUpdate is the EDU type of device list changes between
// servers (server-server-api "Device Management").
const EDUDeviceListUpdate = "m.device_list_update"

// maxPrevIDs bounds the prev_id list of a received update.
const maxPrevIDs = 100

// resyncTimeout bounds one fetch of another server's user's device list.
const resyncTimeout = 30 * time.Second

// maxResyncs bounds the device list fetches running at once in the
// background.
const maxResyncs = 16

// deviceListUpdate is an m.device_list_update EDU's content
// (definitions/event-schemas/m.device_list_update.yaml).
type deviceListUpdate struct {
	UserID            string          `json:"user_id"`
	DeviceID          string          `json:"device_id"`
	DeviceDisplayName string          `json:"device_display_name,omitempty"`
	StreamID          int64           `json:"stream_id"`
	PrevID            []int64         `json:"prev_id,omitempty"`
	Deleted           bool            `json:"deleted,omitempty"`
	Keys              json.RawMessage `json:"keys,omitempty"`
}

// sendDeviceListUpdates queues one m.device_list_update per change for
// servers. Each carries the device as it is now: deleted when it is gone.
func (s *Service) sendDeviceListUpdates(ctx context.Context, changes []e2eestore.DeviceListChange, servers map[string]bool) error {
	if s.fed == nil {
		return nil
	}
	userID := changes[0].UserID
	devices, err := s.devices.ListDevices(ctx, userID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, d := range devices {
		names[d.DeviceID] = d.DisplayName
	}
	keys, err := s.store.UserDeviceKeys(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.mergeDeviceSignatures(ctx, userID, keys); err != nil {
		return err
	}
	dests := make([]string, 0, len(servers))
	for d := range servers {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	for _, c := range changes {
		if !c.Chained {
			continue
		}
		u := deviceListUpdate{UserID: userID, DeviceID: c.DeviceID, StreamID: c.Pos, Keys: keys[c.DeviceID]}
		if c.PrevPos > 0 {
			u.PrevID = []int64{c.PrevPos}
		}
		name, ok := names[c.DeviceID]
		u.DeviceDisplayName, u.Deleted = name, !ok
		content, err := json.Marshal(u)
		if err != nil {
			return err
		}
		for _, dest := range dests {
			if err := s.fed.SendEDU(ctx, EDUDeviceListUpdate, content, dest); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReceiveDeviceListUpdate handles an m.device_list_update from origin: it
// is applied to the cached list of the user when the cache holds every
// update it builds on; a gap marks the list stale and fetches it again
// with /user/devices. Either way local users sharing a room with the user
// see them in device_lists.changed. Updates for users no local user
// shares a room with are dropped: their lists are not tracked.
func (s *Service) ReceiveDeviceListUpdate(ctx context.Context, origin string, content json.RawMessage) error {
	if err := storableJSON("m.device_list_update", content); err != nil {
		return err
	}
	var u deviceListUpdate
	if err := json.Unmarshal(content, &u); err != nil {
		return merr.BadJSON("m.device_list_update: " + err.Error())
	}
	if server, _, err := s.serverOf(u.UserID); err != nil || server != origin {
		return merr.Forbidden("m.device_list_update: the user is not a user of the origin server")
	}
	if u.DeviceID == "" || len(u.DeviceID) > 255 || len(u.DeviceDisplayName) > 1000 || len(u.PrevID) > maxPrevIDs {
		return merr.InvalidParam("m.device_list_update: invalid device_id, device_display_name or prev_id")
	}
	dev := e2eestore.RemoteDevice{DeviceID: u.DeviceID, DisplayName: u.DeviceDisplayName}
	if !u.Deleted && len(u.Keys) > 0 && string(u.Keys) != "null" {
		k, err := checkRemoteDeviceKeys(u.UserID, u.DeviceID, u.Keys)
		if err != nil {
			return err
		}
		dev.Keys = k
	}
	tracked, err := s.tracked(ctx, u.UserID)
	if err != nil || !tracked {
		return err
	}
	outcome, err := s.store.ApplyRemoteUpdate(ctx, e2eestore.RemoteUpdate{UserID: u.UserID, StreamID: u.StreamID,
		PrevIDs: u.PrevID, Device: dev, Deleted: u.Deleted})
	if err != nil {
		return err
	}
	switch outcome {
	case e2eestore.UpdateSeen:
		return nil
	case e2eestore.UpdateGap:
		s.log.Info("missed an m.device_list_update; fetching the device list", "user", u.UserID, "stream_id", u.StreamID)
		s.resyncLater(u.UserID)
	}
	return s.devLists.record(ctx, []e2eestore.DeviceListChange{{UserID: u.UserID, DeviceID: u.DeviceID}}, false)
}

// tracked reports whether a local user shares a room with userID: only
// then is its device list cached and kept in step.
func (s *Service) tracked(ctx context.Context, userID string) (bool, error) {
	return s.devLists.rooms.SharesRoomWithServer(ctx, userID, s.serverName)
}

// checkRemoteDeviceKeys checks that a device_keys object from another
// server is an object for the device it is sent for. Signatures are the
// clients' to verify (they hold the keys that matter).
func checkRemoteDeviceKeys(userID, deviceID string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > maxDeviceKeysJSON {
		return nil, merr.TooLarge("device keys are too large")
	}
	c, err := canonicaljson.Canonicalize(raw, canonicaljson.LenientOptions)
	if err != nil || c[0] != '{' {
		return nil, merr.BadJSON("device keys must be a JSON object")
	}
	var dk deviceKeys
	if err := json.Unmarshal(c, &dk); err != nil || dk.UserID != userID || dk.DeviceID != deviceID {
		return nil, merr.InvalidParam("device keys are not for the device they are sent for")
	}
	return c, nil
}

// resyncLater fetches userID's device list in the background, unless
// maxResyncs fetches run already. A fetch that fails or is not started
// leaves the list stale, and the next /keys/query for the user fetches it.
func (s *Service) resyncLater(userID string) {
	s.resyncMu.Lock()
	busy := len(s.resyncing) >= maxResyncs || s.remote == nil
	s.resyncMu.Unlock()
	if busy {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), resyncTimeout)
		defer cancel()
		if _, err := s.resync(ctx, userID); err != nil {
			s.log.Info("fetching a device list failed; it stays stale", "user", userID, "err", err)
		}
	}()
}

// resyncFlight is one fetch of a user's device list; callers that want
// the same list meanwhile wait for it instead of asking again.
type resyncFlight struct {
	done chan struct{}
	list *e2eestore.RemoteDeviceList
	err  error
}

// resync fetches userID's device list from their server and caches it,
// once at a time per user.
func (s *Service) resync(ctx context.Context, userID string) (*e2eestore.RemoteDeviceList, error) {
	s.resyncMu.Lock()
	if f, ok := s.resyncing[userID]; ok {
		s.resyncMu.Unlock()
		select {
		case <-f.done:
			return f.list, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &resyncFlight{done: make(chan struct{})}
	s.resyncing[userID] = f
	s.resyncMu.Unlock()
	f.list, f.err = s.fetchDeviceList(ctx, userID)
	s.resyncMu.Lock()
	delete(s.resyncing, userID)
	s.resyncMu.Unlock()
	close(f.done)
	return f.list, f.err
}

// userDevicesResponse is the answer of GET /user/devices/{userId}
// (user_devices.yaml).
type userDevicesResponse struct {
	UserID   string           `json:"user_id"`
	StreamID int64            `json:"stream_id"`
	Devices  []userDevicesDev `json:"devices"`
	// The user's cross-signing keys, when they have any.
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

type userDevicesDev struct {
	DeviceID          string          `json:"device_id"`
	Keys              json.RawMessage `json:"keys,omitempty"`
	DeviceDisplayName string          `json:"device_display_name,omitempty"`
}

// maxRemoteDevices bounds the devices cached for one remote user.
const maxRemoteDevices = 1000

// fetchDeviceList fetches userID's device list from their server with
// /user/devices and caches it.
func (s *Service) fetchDeviceList(ctx context.Context, userID string) (*e2eestore.RemoteDeviceList, error) {
	server, _, err := s.serverOf(userID)
	if err != nil {
		return nil, err
	}
	var resp userDevicesResponse
	if err := s.remote.Get(ctx, server, "/_matrix/federation/v1/user/devices/"+url.PathEscape(userID), &resp); err != nil {
		return nil, err
	}
	if resp.UserID != userID || len(resp.Devices) > maxRemoteDevices {
		return nil, errors.New("e2ee: /user/devices answered for another user or with too many devices")
	}
	list := &e2eestore.RemoteDeviceList{StreamID: resp.StreamID}
	for _, d := range resp.Devices {
		if d.DeviceID == "" || len(d.DeviceID) > 255 || len(d.DeviceDisplayName) > 1000 ||
			storable("device", d.DeviceID, d.DeviceDisplayName) != nil || storableJSON("device keys", d.Keys) != nil {
			continue
		}
		dev := e2eestore.RemoteDevice{DeviceID: d.DeviceID, DisplayName: d.DeviceDisplayName}
		if len(d.Keys) > 0 && string(d.Keys) != "null" {
			if dev.Keys, err = checkRemoteDeviceKeys(userID, d.DeviceID, d.Keys); err != nil {
				continue
			}
		}
		list.Devices = append(list.Devices, dev)
	}
	if err := s.store.ReplaceRemoteDeviceList(ctx, userID, resp.StreamID, list.Devices); err != nil {
		return nil, err
	}
	err = cmp.Or(storableJSON("master_key", resp.MasterKey), storableJSON("self_signing_key", resp.SelfSigningKey))
	if err == nil {
		_, err = s.storeRemoteCrossSigningKeys(ctx, userID, resp.MasterKey, resp.SelfSigningKey)
	}
	if err != nil {
		// The devices are kept; keys that do not check out are not.
		s.log.Info("another server's cross-signing keys refused", "user", userID, "err", err)
	}
	return list, s.devLists.record(ctx, []e2eestore.DeviceListChange{{UserID: userID}}, false)
}

// UserDevices answers GET /_matrix/federation/v1/user/devices/{userId}
// for a local user: their devices with keys, with names, and the stream_id
// of the latest m.device_list_update sent for them.
func (s *Service) UserDevices(ctx context.Context, userID string) (json.RawMessage, error) {
	if _, local, err := s.serverOf(userID); err != nil || !local {
		return nil, merr.InvalidParam("the user is not a user of this server")
	}
	streamID, err := s.store.LatestChainedChange(ctx, userID)
	if err != nil {
		return nil, err
	}
	devices, err := s.devices.ListDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.UserDeviceKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.mergeDeviceSignatures(ctx, userID, keys); err != nil {
		return nil, err
	}
	resp := userDevicesResponse{UserID: userID, StreamID: streamID, Devices: []userDevicesDev{}}
	if resp.MasterKey, resp.SelfSigningKey, err = s.publicCrossSigningKeys(ctx, userID); err != nil {
		return nil, err
	}
	for _, d := range devices {
		// keys is required (user_devices.yaml): devices that uploaded
		// none are left out, as Synapse does; their first upload is an
		// update of its own.
		if k := keys[d.DeviceID]; k != nil {
			resp.Devices = append(resp.Devices, userDevicesDev{DeviceID: d.DeviceID, DeviceDisplayName: d.DisplayName, Keys: k})
		}
	}
	return json.Marshal(resp)
}

// RemoteUsersJoined marks the cached device lists of other servers' users
// who just joined a room here as stale: while they shared no room with a
// local user their servers sent us no updates, so what we cached before
// may be old.
func (s *Service) RemoteUsersJoined(ctx context.Context, userIDs []string) {
	for _, u := range userIDs {
		if err := s.store.MarkRemoteStale(ctx, u); err != nil {
			s.log.Warn("marking a device list stale", "user", u, "err", err)
		}
	}
}
