package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/syncapi"
)

// Bounds of to-device messaging.
const (
	// MaxToDeviceRecipients bounds the devices one sendToDevice names
	// (with "*" expanded). A client sharing a room key with a large room
	// names each member's devices in one request.
	MaxToDeviceRecipients = 10000
	// MaxToDeviceContent bounds one message's content, as an event's.
	MaxToDeviceContent = 65536
	// MaxQueuedPerDevice bounds the messages waiting for one device.
	//
	// Policy at the bound: a message for a device whose queue is full is
	// not queued for that device (and logged); the rest of the request,
	// and everything already queued, is kept. A device that has not
	// synced ten thousand messages is almost certainly abandoned; dropping
	// what arrives keeps every message that was queued, in order, rather
	// than deleting ones already accepted, and a sender is never refused
	// because one of many recipients went away.
	MaxQueuedPerDevice = 10000
	// ToDevicePerSync bounds the messages one /sync delivers
	// (send_to_device.md recommends 100); the rest follow in the next.
	ToDevicePerSync = 100
	// toDeviceTxnLifetime is how long a sendToDevice transaction ID, or
	// a received EDU's message_id, is remembered: clients retry within
	// minutes, but another server may retry a transaction after days of
	// backing off.
	toDeviceTxnLifetime = 7 * 24 * time.Hour
)

// ToDeviceRequest is one PUT /sendToDevice/{eventType}/{txnId}.
type ToDeviceRequest struct {
	Sender, SenderDevice string
	TxnID, Type          string
	// Messages maps user ID → device ID (or "*" for all the user's
	// devices) → content.
	Messages map[string]map[string]json.RawMessage
}

// SendToDevice queues the request's messages for local devices and sends
// those for other servers' users as m.direct_to_device EDUs. It returns
// once both are durable; a repeated transaction ID sends nothing again.
// Messages to local devices that do not exist are dropped, as Synapse does.
func (s *Service) SendToDevice(ctx context.Context, req ToDeviceRequest) error {
	if req.Type == "" || len(req.Type) > 255 || req.TxnID == "" || len(req.TxnID) > 255 {
		return merr.InvalidParam("invalid event type or transaction ID")
	}
	local, remote, err := s.recipients(ctx, req.Sender, req.Type, req.Messages)
	if err != nil {
		return err
	}
	txn := &e2eestore.Txn{UserID: req.Sender, DeviceID: req.SenderDevice, TxnID: req.TxnID}
	if len(remote) > 0 {
		// The EDUs go out before the transaction is recorded with the
		// local messages, so a crash in between loses nothing: the
		// client's retry sends them again, under the same message IDs,
		// which the receiving servers deduplicate.
		if seen, err := s.store.HasTxn(ctx, txn); err != nil || seen {
			return err
		}
		if err := s.sendRemote(ctx, req, remote); err != nil {
			return err
		}
	}
	return s.enqueue(ctx, txn, local)
}

// enqueue stores msgs for local devices under txn, then wakes their users.
func (s *Service) enqueue(ctx context.Context, txn *e2eestore.Txn, msgs []e2eestore.ToDeviceMessage) error {
	positions := make([]int64, len(msgs))
	for i := range msgs {
		positions[i] = s.toDevice.Reserve()
		msgs[i].Pos = positions[i]
	}
	defer func() {
		for _, p := range positions {
			s.toDevice.Finish(p)
		}
	}()
	dup, dropped, err := s.store.EnqueueToDevice(ctx, txn, msgs, MaxQueuedPerDevice, s.now().UnixMilli())
	if err != nil {
		return err
	}
	for _, m := range dropped {
		s.log.Warn("to-device queue full; message dropped for this device", "user", m.UserID, "device", m.DeviceID,
			"sender", m.Sender, "type", m.Type)
	}
	if !dup && len(msgs) > 0 {
		s.queueWake(msgs)
	}
	s.maybePruneTxns(ctx)
	return nil
}

// remoteMessages are the messages for one other server: user → device (or
// "*") → content.
type remoteMessages map[string]map[string]json.RawMessage

// recipients checks messages and splits them into one message per local
// device, in a fixed order (users, then devices, sorted), and the messages
// for each other server.
func (s *Service) recipients(ctx context.Context, sender, typ string, messages map[string]map[string]json.RawMessage) ([]e2eestore.ToDeviceMessage, map[string]remoteMessages, error) {
	users := make([]string, 0, len(messages))
	named := 0
	for u, byDevice := range messages {
		if _, err := ids.ParseUserID(u); err != nil {
			return nil, nil, merr.InvalidParam(fmt.Sprintf("invalid user ID %q", u))
		}
		for d, content := range byDevice {
			if d == "" || len(d) > 255 || storable("device ID", d) != nil {
				return nil, nil, merr.InvalidParam("invalid device ID")
			}
			if len(content) > MaxToDeviceContent {
				return nil, nil, merr.TooLarge("a to-device message's content is too large")
			}
			if len(content) == 0 || content[0] != '{' || !utf8.Valid(content) {
				return nil, nil, merr.BadJSON("a to-device message's content must be a JSON object in UTF-8")
			}
		}
		named += len(byDevice)
		users = append(users, u)
	}
	if named > MaxToDeviceRecipients {
		return nil, nil, merr.InvalidParam(fmt.Sprintf("at most %d devices per request", MaxToDeviceRecipients))
	}
	sort.Strings(users)
	var out []e2eestore.ToDeviceMessage
	remote := map[string]remoteMessages{}
	for _, u := range users {
		server, local, err := s.serverOf(u)
		if err != nil {
			return nil, nil, err
		}
		byDevice := messages[u]
		if !local {
			if remote[server] == nil {
				remote[server] = remoteMessages{}
			}
			remote[server][u] = byDevice
			continue
		}
		devices, err := s.devices.ListDevices(ctx, u)
		if err != nil {
			return nil, nil, err
		}
		if all, ok := byDevice["*"]; ok {
			// "*" wins over named devices, so no device gets two copies.
			for _, d := range devices {
				out = append(out, e2eestore.ToDeviceMessage{UserID: u, DeviceID: d.DeviceID, Sender: sender, Type: typ, Content: all})
			}
		} else {
			var targets []string
			for _, d := range devices {
				if _, ok := byDevice[d.DeviceID]; ok {
					targets = append(targets, d.DeviceID)
				}
			}
			sort.Strings(targets)
			for _, d := range targets {
				out = append(out, e2eestore.ToDeviceMessage{UserID: u, DeviceID: d, Sender: sender, Type: typ, Content: byDevice[d]})
			}
		}
		if len(out) > MaxToDeviceRecipients {
			return nil, nil, merr.InvalidParam(fmt.Sprintf("at most %d devices per request", MaxToDeviceRecipients))
		}
	}
	return out, remote, nil
}

// queueWake wakes the recipients once the stream has reached every one of
// msgs' positions.
func (s *Service) queueWake(msgs []e2eestore.ToDeviceMessage) {
	var top int64
	seen := map[string]bool{}
	var users []string
	for _, m := range msgs {
		top = max(top, m.Pos)
		if !seen[m.UserID] {
			seen[m.UserID] = true
			users = append(users, m.UserID)
		}
	}
	s.toDeviceWakes.add(top, users)
}

// maybePruneTxns forgets old transaction IDs about once an hour.
func (s *Service) maybePruneTxns(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	due := now.Sub(s.lastPrune) > time.Hour
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if due {
		if err := s.store.PruneToDeviceTxns(ctx, now.Add(-toDeviceTxnLifetime).UnixMilli()); err != nil {
			s.log.Warn("pruning to-device transaction IDs", "err", err)
		}
	}
}

// ToDeviceStream is the to-device stream of /sync.
type ToDeviceStream struct{ s *Service }

// ToDeviceStream returns the service's to-device stream for the Syncer.
func (s *Service) ToDeviceStream() *ToDeviceStream { return &ToDeviceStream{s} }

// Key is "td" in sync tokens.
func (t *ToDeviceStream) Key() string { return "td" }

// Current is the highest position whose messages are readable.
func (t *ToDeviceStream) Current() int64 { return t.s.toDevice.Current() }

// OnAdvance registers fn to be called whenever Current grows (for
// followers of the whole stream, like appservice transactions).
func (t *ToDeviceStream) OnAdvance(fn func(current int64)) { t.s.toDevice.OnAdvance(fn) }

// Between returns the messages queued for any device at positions in
// (after, upto], in order, at most limit; more reports that there were
// more.
func (t *ToDeviceStream) Between(ctx context.Context, after, upto int64, limit int) (msgs []e2eestore.ToDeviceMessage, more bool, err error) {
	return t.s.store.ToDeviceBetween(ctx, after, upto, limit)
}

// toDeviceEvent is a to-device message as /sync sends it.
type toDeviceEvent struct {
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// Sync adds the device's messages in (From, To], in order of arrival, at
// most ToDevicePerSync of them.
func (t *ToDeviceStream) Sync(ctx context.Context, sr *syncapi.StreamSync) error {
	if sr.Req.DeviceID == "" {
		return nil
	}
	msgs, err := t.s.store.ToDeviceMessages(ctx, sr.Req.UserID, sr.Req.DeviceID, sr.From, sr.To, ToDevicePerSync)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		raw, err := json.Marshal(toDeviceEvent{Sender: m.Sender, Type: m.Type, Content: m.Content})
		if err != nil {
			return err
		}
		sr.Resp.ToDevice.Events = append(sr.Resp.ToDevice.Events, raw)
	}
	if len(msgs) == ToDevicePerSync {
		sr.To = msgs[len(msgs)-1].Pos
	}
	return nil
}

// Ack deletes the device's messages up to pos: a sync with a since token
// at or past a message's position proves the client received it
// (send_to_device.md "Server behaviour").
func (t *ToDeviceStream) Ack(ctx context.Context, userID, deviceID string, pos int64) error {
	_, err := t.s.store.DeleteToDeviceUpTo(ctx, userID, deviceID, pos)
	return err
}
