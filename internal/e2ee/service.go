// Package e2ee is the server's side of end-to-end encryption: it stores and
// routes what clients need to encrypt to each other (device identity keys,
// one-time and fallback keys) and the to-device messages they exchange
// (client-server-api "End-to-End Encryption", "Send-to-Device messaging").
// The server never sees plaintext; it keeps each key and message exactly
// as the spec says, and never loses or duplicates one.
package e2ee

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/streams"
)

// Devices is what the service reads and writes of the accounts domain.
type Devices interface {
	// ListDevices returns the user's devices (none for an unknown user).
	ListDevices(ctx context.Context, userID string) ([]accounts.Device, error)
	// ReplaceDevice deletes devices and creates one without tokens (a
	// dehydrated device), with other writes, in one transaction.
	ReplaceDevice(ctx context.Context, r accounts.DeviceReplacement) ([]string, error)
	// DeleteDevices deletes devices (their keys and queues go in the same
	// transaction: the accounts store's deletion hook) and returns the IDs
	// that existed.
	DeleteDevices(ctx context.Context, userID string, deviceIDs []string) ([]string, error)
}

// Waker wakes the long-polling syncs of users (the room engine's notifier).
type Waker interface {
	Wake(userIDs ...string)
}

// Config is what New needs.
type Config struct {
	Store   *e2eestore.Store
	Devices Devices
	Rooms   Rooms
	// RoomNow is the room stream's current position (readable by all).
	RoomNow    func() int64
	Notifier   Waker
	ServerName string
	Now        func() time.Time
	Log        *slog.Logger
}

// Service is the e2ee domain. Safe for concurrent use.
type Service struct {
	store      *e2eestore.Store
	devices    Devices
	notifier   Waker
	serverName string
	now        func() time.Time
	log        *slog.Logger

	toDevice      *streams.Tracker
	toDeviceWakes *trackedWakes
	fed           EDUSender // nil without federation

	mu        sync.Mutex
	lastPrune time.Time

	devLists *deviceLists
	roomNow  func() int64
	remote   RemoteClient // nil without federation

	resyncMu  sync.Mutex
	resyncing map[string]*resyncFlight // users whose device lists are being fetched

	// dehydrateMu serializes the replacement of dehydrated devices
	// (dehydrated.go): rare, and each one spans several stores.
	dehydrateMu sync.Mutex
}

// New returns the service, with the to-device stream starting above every
// position handed out before (across restarts too).
func New(ctx context.Context, cfg Config) (*Service, error) {
	top, err := cfg.Store.MaxToDevicePos(ctx)
	if err != nil {
		return nil, err
	}
	s := &Service{store: cfg.Store, devices: cfg.Devices, notifier: cfg.Notifier, serverName: cfg.ServerName,
		now: cfg.Now, log: cfg.Log, toDevice: streams.NewTracker(top), resyncing: map[string]*resyncFlight{}, roomNow: cfg.RoomNow}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.toDeviceWakes = newTrackedWakes(s.toDevice, s.notifier)
	if s.devLists, err = newDeviceLists(ctx, s, cfg.Rooms); err != nil {
		return nil, err
	}
	return s, nil
}

// OnDevicesDeleted records the change of the device list (the users
// service's device hook). The devices' queues and keys went with them, in
// the accounts store's transaction (e2eestore.DeleteDevicesTx, installed
// as its device deletion hook); a second look here removes what a
// message or upload that raced with the deletion left behind.
func (s *Service) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	if err := s.store.DeleteDevices(ctx, userID, deviceIDs); err != nil {
		return err
	}
	return s.NotifyKeysChanged(ctx, userID, deviceIDs...)
}

// OnDeviceUpdated records a new or renamed device in the device list.
func (s *Service) OnDeviceUpdated(ctx context.Context, userID, deviceID string) error {
	return s.NotifyKeysChanged(ctx, userID, deviceID)
}
