package txnsender

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/event"
)

// toDeviceEvent is a to-device message in a transaction: the /sync format
// plus its recipient (MSC2409, as Synapse sends it).
type toDeviceEvent struct {
	Type       string          `json:"type"`
	Sender     string          `json:"sender"`
	Content    json.RawMessage `json:"content"`
	ToUserID   string          `json:"to_user_id"`
	ToDeviceID string          `json:"to_device_id"`
}

// deviceLists is MSC3202's device list summary. left stays empty, as in
// Synapse, which does not compute it for appservices either.
type deviceLists struct {
	Changed []string `json:"changed"`
	Left    []string `json:"left"`
}

// buildToDevice adds the messages queued for devices of the appservice's
// users. They stay queued for the devices' own /sync until the appservice
// has them (clearDelivered).
func (w *worker) buildToDevice(ctx context.Context, b *built) error {
	if w.s.cfg.ToDevice == nil {
		return nil
	}
	cur := w.s.cfg.ToDevice.Current()
	if b.next[streamToDev] >= cur {
		return nil
	}
	msgs, more, err := w.s.cfg.ToDevice.Between(ctx, b.next[streamToDev], cur, MaxToDevice)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if w.interestedInUser(m.UserID) {
			b.toDevice = append(b.toDevice, toDeviceEvent{Type: m.Type, Sender: m.Sender, Content: m.Content,
				ToUserID: m.UserID, ToDeviceID: m.DeviceID})
		}
	}
	if more {
		b.next[streamToDev] = msgs[len(msgs)-1].Pos
		b.more = true
	} else {
		b.next[streamToDev] = cur
	}
	return nil
}

// clearDelivered deletes from the device inbox the to-device messages
// that the transaction the appservice just accepted carried for the
// devices of its own users: its sender and the users of its exclusive
// namespaces, whose devices no one else reads and which usually never
// /sync, so nothing else would ever delete them. This is MSC2409's
// suggested rule ("Implementation detail: when to delete a to-device
// message"); Synapse keeps such messages forever (its issue 11423). Users
// of a non-exclusive namespace may also sync their devices themselves:
// theirs stay until a sync acknowledges them.
//
// Only one transaction is pending at a time, so the worker's to-device
// position is the one this transaction covers, and every message up to
// it for such a device was in this transaction or an earlier one. The
// messages are deleted before the transaction is: after a crash between
// the two, the transaction is sent again from its stored body.
func (w *worker) clearDelivered(ctx context.Context, body []byte) {
	if w.s.cfg.ToDevice == nil || !w.as.ToDevice {
		return
	}
	var tb struct {
		ToDevice []toDeviceEvent `json:"de.sorunome.msc2409.to_device"`
	}
	if err := json.Unmarshal(body, &tb); err != nil || len(tb.ToDevice) == 0 {
		return
	}
	upto := w.pos[streamToDev]
	done := map[[2]string]bool{}
	for _, m := range tb.ToDevice {
		dev := [2]string{m.ToUserID, m.ToDeviceID}
		if done[dev] || (m.ToUserID != w.as.SenderUserID && !w.as.Interest.IsExclusiveUser(m.ToUserID)) {
			continue
		}
		done[dev] = true
		if err := w.s.cfg.ToDevice.Ack(ctx, m.ToUserID, m.ToDeviceID, upto); err != nil {
			// They stay until the device's next message is cleared.
			w.log.Warn("appservice: deleting delivered to-device messages failed", "user", m.ToUserID, "device", m.ToDeviceID, "err", err)
		}
	}
}

// buildDeviceLists reports the users whose devices changed and who are the
// appservice's or are joined to a room of interest to it (Synapse's
// reading of MSC3202).
func (w *worker) buildDeviceLists(ctx context.Context, b *built) error {
	if w.s.cfg.DeviceLists == nil {
		return nil
	}
	cur := w.s.cfg.DeviceLists.Current()
	if b.next[streamDevList] >= cur {
		return nil
	}
	users, more, err := w.s.cfg.DeviceLists.ChangedUsers(ctx, b.next[streamDevList], cur, maxDeviceListUsers)
	if err != nil {
		return err
	}
	if more {
		// The log gives users, not their positions, so the rest cannot
		// follow in the next transaction; so many changes at once mean
		// the appservice was gone for long and must query keys anew.
		w.log.Warn("appservice: too many device list changes at once; some are not reported", "reported", len(users))
	}
	var changed []string
	for _, u := range users {
		ok, err := w.interestedInUserOrRooms(ctx, u)
		if err != nil {
			return err
		}
		if ok {
			changed = append(changed, u)
		}
	}
	b.next[streamDevList] = cur
	if len(changed) > 0 {
		b.deviceLists = &deviceLists{Changed: changed, Left: []string{}}
	}
	return nil
}

// interestedInUserOrRooms reports whether userID is the appservice's or is
// joined to a room of interest to it.
func (w *worker) interestedInUserOrRooms(ctx context.Context, userID string) (bool, error) {
	if w.interestedInUser(userID) {
		return true, nil
	}
	ms, err := w.s.cfg.Rooms.Store().RoomsForUser(ctx, userID, event.Join)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		ok, err := w.rooms.interested(ctx, m.RoomID)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// buildKeyCounts adds the one-time key counts and unused fallback key
// types of the devices of the appservice's users that the transaction
// mentions (senders and to-device recipients) and of its own user, as
// Synapse does for MSC3202.
func (w *worker) buildKeyCounts(ctx context.Context, b *built) error {
	if w.s.cfg.KeyCounts == nil {
		return nil
	}
	users := map[string]bool{w.as.SenderUserID: true}
	for _, e := range b.events {
		if w.interestedInUser(e.Sender) {
			users[e.Sender] = true
		}
	}
	for _, m := range b.toDevice {
		users[m.ToUserID] = true
	}
	b.otkCounts, b.fallback = map[string]map[string]map[string]int{}, map[string]map[string][]string{}
	for u := range users {
		counts, fallback, err := w.s.cfg.KeyCounts(ctx, u)
		if err != nil {
			return err
		}
		if len(counts) > 0 {
			b.otkCounts[u], b.fallback[u] = counts, fallback
		}
	}
	return nil
}
