package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// Dehydrated devices (MSC3814, "Dehydrated Devices with SSSS", unstable
// prefix org.matrix.msc3814.v1), as matrix-js-sdk's Rust crypto uses them:
// a client uploads a device whose encrypted account it keeps in the
// user's secret storage. It is a real device of the user (the accounts
// domain's devices table, listed by GET /devices as Synapse lists it), so
// other users' clients query and claim its keys and send it room keys; it
// has no access token, and no one may log in to it (CheckLoginDevice).
// A later login rehydrates it: it reads the device's to-device messages
// (DehydratedDeviceEvents) and decrypts them itself. The spec (v1.19)
// does not have them yet.

// Bounds of a dehydrated device upload.
const (
	// maxDeviceDataJSON bounds device_data: the encrypted pickle of an
	// account with its one-time keys, a few KiB.
	maxDeviceDataJSON = 64 << 10
	// maxDeviceIDLength is the login's bound on device IDs.
	maxDeviceIDLength = 255
	// DehydratedEventsLimit is how many to-device messages one call of
	// POST .../dehydrated_device/{deviceId}/events returns at most, and
	// its default (Synapse's default limit).
	DehydratedEventsLimit = 100
)

// DehydratedDeviceRequest is one PUT .../dehydrated_device.
type DehydratedDeviceRequest struct {
	UserID   string
	DeviceID string
	// DeviceData is the device_data object (opaque but for its
	// algorithm, which Synapse requires).
	DeviceData  json.RawMessage
	DisplayName string
	// DeviceKeys, OneTimeKeys and FallbackKeys are as in /keys/upload;
	// device keys are required, so that every dehydrated device can
	// receive encrypted messages (MSC3814 "Dehydrating a device").
	DeviceKeys   json.RawMessage
	OneTimeKeys  map[string]json.RawMessage
	FallbackKeys map[string]json.RawMessage
}

// PutDehydratedDevice stores the user's new dehydrated device with its keys
// and returns its ID. The user's previous dehydrated device is deleted
// with its keys and to-device queue, as Synapse does (MSC3814: "uploading
// a new dehydrated device will remove any previously-set dehydrated
// device"); so is an earlier upload of the same device ID. The device ID
// may not name another of the user's devices.
//
// The steps span the accounts and e2ee stores, and run in one
// transaction (accounts.Store.ReplaceDevice): the previous dehydrated
// device is deleted with its keys and queue, the new device created, its
// keys and its record stored. A failure or a crash anywhere leaves the
// previous device as it was and no trace of the new one. Only telling
// others of the changed device list comes after the commit.
func (s *Service) PutDehydratedDevice(ctx context.Context, req DehydratedDeviceRequest) (string, error) {
	if req.DeviceID == "" {
		return "", merr.MissingParam("device_id is required")
	}
	if len(req.DeviceID) > maxDeviceIDLength || !utf8.ValidString(req.DeviceID) || strings.ContainsFunc(req.DeviceID, unicode.IsControl) {
		return "", merr.InvalidParam("device_id must be at most 255 bytes of printable text")
	}
	data, err := checkDeviceData(req.DeviceData)
	if err != nil {
		return "", err
	}
	if len(req.DisplayName) > maxDisplayNameLength {
		return "", merr.InvalidParam("initial_device_display_name is too long")
	}
	if req.DeviceKeys == nil || string(req.DeviceKeys) == "null" {
		// Synapse's check and wording (its code is M_UNKNOWN).
		return "", merr.MissingParam("Device key(s) not found, these must be provided.")
	}
	// Refuse bad keys before anything is written.
	up, _, err := checkUpload(UploadRequest{UserID: req.UserID, DeviceID: req.DeviceID, DeviceKeys: req.DeviceKeys,
		OneTimeKeys: req.OneTimeKeys, FallbackKeys: req.FallbackKeys})
	if err != nil {
		return "", err
	}

	s.dehydrateMu.Lock()
	defer s.dehydrateMu.Unlock()
	now := s.now().UnixMilli()
	deleted, err := s.devices.ReplaceDevice(ctx, accounts.DeviceReplacement{
		UserID: req.UserID, DeviceID: req.DeviceID, DisplayName: req.DisplayName, NowTS: now,
		Prepare: func(ctx context.Context, tx *sql.Tx) ([]string, error) {
			// The previous dehydrated device goes, as Synapse deletes it
			// (MSC3814: "uploading a new dehydrated device will remove
			// any previously-set dehydrated device"), also when it has
			// the same ID: that device starts afresh.
			cur, err := s.store.DehydratedDeviceTx(ctx, tx, req.UserID)
			if err != nil || cur == "" {
				return nil, err
			}
			return []string{cur}, nil
		},
		Finish: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := s.store.UploadTx(ctx, tx, req.UserID, req.DeviceID, up); err != nil {
				return err
			}
			return s.store.SetDehydratedDeviceTx(ctx, tx, req.UserID, e2eestore.DehydratedDevice{DeviceID: req.DeviceID, Data: data, CreatedTS: now})
		},
	})
	if errors.Is(err, accounts.ErrDeviceExists) {
		return "", merr.InvalidParam("device_id names one of your devices; a dehydrated device needs a new one")
	}
	if err != nil {
		return "", err
	}
	// The deleted device and the new one with its keys: users sharing a
	// room re-query them, other servers are told. (The deleted device's
	// end-to-end data went in the transaction, by the deletion hook; not
	// OnDevicesDeleted, which would delete the new device's keys when it
	// has the old one's ID.)
	changed := []string{req.DeviceID}
	for _, d := range deleted {
		if d != req.DeviceID {
			changed = append(changed, d)
		}
	}
	if err := s.NotifyKeysChanged(ctx, req.UserID, changed...); err != nil {
		return "", err
	}
	return req.DeviceID, nil
}

// maxDisplayNameLength is the users service's bound on device names.
const maxDisplayNameLength = 100

// checkDeviceData checks device_data: a JSON object with a string
// algorithm (Synapse's model of it), bounded. It returns it compacted.
func checkDeviceData(raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return nil, merr.MissingParam("device_data is required")
	}
	if len(raw) > maxDeviceDataJSON {
		return nil, merr.TooLarge("device_data is too large")
	}
	var d struct {
		Algorithm *string `json:"algorithm"`
	}
	if err := json.Unmarshal(raw, &d); err != nil || raw[0] != '{' {
		return nil, merr.BadJSON("device_data must be a JSON object")
	}
	if d.Algorithm == nil || *d.Algorithm == "" {
		return nil, merr.MissingParam("device_data.algorithm is required")
	}
	out, err := json.Marshal(raw) // compacts; keeps the order and the values
	if err != nil {
		return nil, merr.BadJSON("device_data must be a JSON object")
	}
	return out, nil
}

// DehydratedDevice returns the user's dehydrated device: 404 M_NOT_FOUND
// when there is none (MSC3814 "Rehydrating a device").
func (s *Service) DehydratedDevice(ctx context.Context, userID string) (e2eestore.DehydratedDevice, error) {
	d, ok, err := s.store.DehydratedDevice(ctx, userID)
	if err != nil {
		return d, err
	}
	if !ok {
		return d, merr.NotFound("No dehydrated device available")
	}
	return d, nil
}

// DeleteDehydratedDevice deletes the user's dehydrated device with its
// keys and queue and returns its ID; 404 M_NOT_FOUND when there is none.
func (s *Service) DeleteDehydratedDevice(ctx context.Context, userID string) (string, error) {
	s.dehydrateMu.Lock()
	defer s.dehydrateMu.Unlock()
	d, err := s.DehydratedDevice(ctx, userID)
	if err != nil {
		return "", err
	}
	return d.DeviceID, s.deleteDevice(ctx, userID, d.DeviceID)
}

// deleteDevice deletes one of the user's devices (its keys, queue and
// dehydrated record go in the same transaction) and records the change of
// the device list.
func (s *Service) deleteDevice(ctx context.Context, userID, deviceID string) error {
	deleted, err := s.devices.DeleteDevices(ctx, userID, []string{deviceID})
	if err != nil || len(deleted) == 0 {
		return err
	}
	return s.OnDevicesDeleted(ctx, userID, deleted)
}

// DehydratedEvents is one page of a dehydrated device's to-device
// messages.
type DehydratedEvents struct {
	Events    []json.RawMessage `json:"events"`
	NextBatch string            `json:"next_batch"`
}

// DehydratedDeviceEvents returns up to limit to-device messages queued for
// the user's dehydrated device after nextBatch ("" for the first page),
// and the token of the next page. The last page is empty and still has a
// token (MSC3814). Pages do not delete what they return: MSC3814 says the
// server must not, so that a rehydration that is cut short can be
// started again (and Synapse does not); the messages go with the device
// when it is replaced or deleted. Tokens are Synapse's: "d" and a
// position in the to-device stream. A device ID other than the user's
// dehydrated device's, or no dehydrated device, is 403 M_FORBIDDEN.
func (s *Service) DehydratedDeviceEvents(ctx context.Context, userID, deviceID, nextBatch string, limit int) (*DehydratedEvents, error) {
	d, ok, err := s.store.DehydratedDevice(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, merr.Forbidden("No dehydrated device exists")
	}
	if d.DeviceID != deviceID {
		return nil, merr.Forbidden("You may only fetch messages for your dehydrated device")
	}
	var since int64
	if nextBatch != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(nextBatch, "d"), 10, 64)
		if !strings.HasPrefix(nextBatch, "d") || err != nil || n < 0 {
			return nil, merr.InvalidParam(fmt.Sprintf("next_batch %q has an invalid format", nextBatch))
		}
		since = n
	}
	if limit <= 0 || limit > DehydratedEventsLimit {
		limit = DehydratedEventsLimit
	}
	msgs, err := s.store.ToDeviceMessages(ctx, userID, deviceID, since, s.toDevice.Current(), limit)
	if err != nil {
		return nil, err
	}
	out := &DehydratedEvents{Events: make([]json.RawMessage, 0, len(msgs)), NextBatch: "d" + strconv.FormatInt(since, 10)}
	for _, m := range msgs {
		raw, err := json.Marshal(toDeviceEvent{Sender: m.Sender, Type: m.Type, Content: m.Content})
		if err != nil {
			return nil, err
		}
		out.Events = append(out.Events, raw)
		out.NextBatch = "d" + strconv.FormatInt(m.Pos, 10)
	}
	return out, nil
}

// CheckLoginDevice refuses a login that names the user's dehydrated
// device: it has no access token, and a client that took it over would
// receive what is meant for the rehydrating login (the users service's
// device guard).
func (s *Service) CheckLoginDevice(ctx context.Context, userID, deviceID string) error {
	d, ok, err := s.store.DehydratedDevice(ctx, userID)
	if err != nil {
		return err
	}
	if ok && d.DeviceID == deviceID {
		return merr.InvalidParam("device_id names the user's dehydrated device, which cannot log in")
	}
	return nil
}
