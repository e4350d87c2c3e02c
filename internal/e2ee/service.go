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

// Devices is what the service reads of the accounts domain.
type Devices interface {
	// ListDevices returns the user's devices (none for an unknown user).
	ListDevices(ctx context.Context, userID string) ([]accounts.Device, error)
}

// Waker wakes the long-polling syncs of users (the room engine's notifier).
type Waker interface {
	Wake(userIDs ...string)
}

// Config is what New needs.
type Config struct {
	Store      *e2eestore.Store
	Devices    Devices
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

	toDevice *streams.Tracker
	fed      EDUSender // nil without federation

	mu sync.Mutex
	// wakes holds users to wake once the to-device stream reaches pos:
	// a message is readable only when every lower position has finished.
	wakes     []pendingWake
	lastPrune time.Time
}

type pendingWake struct {
	pos   int64
	users []string
}

// New returns the service, with the to-device stream starting above every
// position handed out before (across restarts too).
func New(ctx context.Context, cfg Config) (*Service, error) {
	top, err := cfg.Store.MaxToDevicePos(ctx)
	if err != nil {
		return nil, err
	}
	s := &Service{store: cfg.Store, devices: cfg.Devices, notifier: cfg.Notifier, serverName: cfg.ServerName,
		now: cfg.Now, log: cfg.Log, toDevice: streams.NewTracker(top)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.toDevice.OnAdvance(s.wakeUpTo)
	return s, nil
}

// wakeUpTo wakes the users whose messages are now readable.
func (s *Service) wakeUpTo(current int64) {
	s.mu.Lock()
	var users []string
	kept := s.wakes[:0]
	for _, w := range s.wakes {
		if w.pos <= current {
			users = append(users, w.users...)
		} else {
			kept = append(kept, w)
		}
	}
	s.wakes = kept
	s.mu.Unlock()
	if len(users) > 0 && s.notifier != nil {
		s.notifier.Wake(users...)
	}
}

// OnDevicesDeleted deletes the devices' queues and keys (the users
// service's device hook).
func (s *Service) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	return s.store.DeleteDevices(ctx, userID, deviceIDs)
}

// OnDeviceUpdated is the other half of the device hook; device list
// updates will use it.
func (s *Service) OnDeviceUpdated(ctx context.Context, userID, deviceID string) error { return nil }
