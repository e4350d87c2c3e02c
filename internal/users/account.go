package users

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// ListDevices returns the user's devices.
func (s *Service) ListDevices(ctx context.Context, userID string) ([]accounts.Device, error) {
	return s.store.ListDevices(ctx, userID)
}

// GetDevice returns one of the user's devices; 404 M_NOT_FOUND otherwise.
func (s *Service) GetDevice(ctx context.Context, userID, deviceID string) (*accounts.Device, error) {
	d, err := s.store.GetDevice(ctx, userID, deviceID)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, merr.NotFound("Unknown device")
	}
	return d, err
}

// MaxDeviceDisplayNameLength bounds device names, as Synapse does; they are
// shown to other users.
const MaxDeviceDisplayNameLength = 100

// EnsureAppserviceDevice creates a device of userID without any token, as
// an application service may (device_management.yaml, PUT
// /devices/{deviceId}, spec v1.17, MSC4190); true if it was created, false
// if the user had it already. The caller checks that an appservice asks.
func (s *Service) EnsureAppserviceDevice(ctx context.Context, userID, deviceID, displayName string) (bool, error) {
	if err := checkDeviceID(deviceID); err != nil {
		return false, err
	}
	if len(displayName) > MaxDeviceDisplayNameLength {
		return false, merr.InvalidParam("Device display name is too long")
	}
	created, err := s.store.CreateDevice(ctx, userID, deviceID, displayName, s.now().UnixMilli())
	if err != nil {
		return false, err
	}
	if created {
		s.deviceUpdated(ctx, userID, deviceID)
	}
	return created, nil
}

// RenameDevice sets a device's display name; 404 M_NOT_FOUND for a device
// the user does not have.
func (s *Service) RenameDevice(ctx context.Context, userID, deviceID, name string) error {
	if len(name) > MaxDeviceDisplayNameLength {
		return merr.InvalidParam("Device display name is too long")
	}
	err := s.store.SetDeviceDisplayName(ctx, userID, deviceID, name)
	if errors.Is(err, merr.ErrNotFound) {
		return merr.NotFound("Unknown device")
	}
	if err != nil {
		return err
	}
	s.deviceUpdated(ctx, userID, deviceID)
	return nil
}

// DeleteDevices deletes devices of the user and their tokens; unknown IDs
// are ignored (device_management.yaml: "or had been removed previously").
func (s *Service) DeleteDevices(ctx context.Context, userID string, deviceIDs []string) error {
	deleted, err := s.store.DeleteDevices(ctx, userID, deviceIDs)
	if err != nil {
		return err
	}
	s.devicesDeleted(ctx, userID, deleted)
	return nil
}

// ChangePassword sets a new password after the policy check. With
// logoutDevices every other device is deleted, and keepDeviceID (the
// caller's) is kept (password_management.yaml: the server SHOULD NOT revoke
// the access token of the request).
func (s *Service) ChangePassword(ctx context.Context, userID, newPassword string, logoutDevices bool, keepDeviceID string) error {
	if err := s.CheckPolicy(newPassword); err != nil {
		return err
	}
	return s.setPassword(ctx, userID, newPassword, logoutDevices, keepDeviceID)
}

// setPassword stores a new password hash and, with logoutDevices, deletes
// every device but keepDeviceID ("" keeps none).
func (s *Service) setPassword(ctx context.Context, userID, password string, logoutDevices bool, keepDeviceID string) error {
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	if err := s.store.SetPasswordHash(ctx, userID, string(hash)); err != nil {
		return err
	}
	if logoutDevices {
		deleted, err := s.store.DeleteOtherDevices(ctx, userID, keepDeviceID)
		if err != nil {
			return err
		}
		s.devicesDeleted(ctx, userID, deleted)
	}
	return nil
}

// SetAdmin grants or revokes server admin rights.
func (s *Service) SetAdmin(ctx context.Context, userID string, admin bool) error {
	return s.store.SetAdmin(ctx, userID, admin)
}

// Deactivate makes the account unusable for good: password, devices,
// tokens and third-party IDs are removed, and with erase also the profile
// and account data (account_deactivation.yaml). The deactivation hook then
// runs (e.g. to leave rooms).
func (s *Service) Deactivate(ctx context.Context, userID string, erase bool) error {
	devices, err := s.store.ListDevices(ctx, userID)
	if err != nil {
		return err
	}
	if err := s.store.DeactivateUser(ctx, userID, erase); err != nil {
		return err
	}
	s.erased.forget(userID)
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.DeviceID
	}
	s.devicesDeleted(ctx, userID, ids)
	h := s.getHooks()
	if erase && h.Profile != nil {
		if err := h.Profile.OnProfileChange(ctx, userID); err != nil {
			s.log.Error("profile hook failed", "user", userID, "err", err)
		}
	}
	if h.Deactivate != nil {
		if err := h.Deactivate.OnDeactivate(ctx, userID); err != nil {
			s.log.Error("deactivation hook failed", "user", userID, "err", err)
		}
	}
	return nil
}

// ListThreepids returns the user's third-party IDs.
func (s *Service) ListThreepids(ctx context.Context, userID string) ([]accounts.Threepid, error) {
	return s.store.ListThreepids(ctx, userID)
}

// maxThreepidsPerUser bounds what one account can bind (the admin API
// has the same bound).
const maxThreepidsPerUser = 100

// AddThreepid binds a validated address to the user: 400
// M_THREEPID_IN_USE when another account has it.
func (s *Service) AddThreepid(ctx context.Context, userID, medium, address string, validatedAt int64) error {
	have, err := s.store.ListThreepids(ctx, userID)
	if err != nil {
		return err
	}
	if len(have) >= maxThreepidsPerUser {
		return merr.Forbidden("Too many third-party identifiers on this account")
	}
	return s.store.AddThreepid(ctx, userID, accounts.Threepid{Medium: medium, Address: address, ValidatedAt: validatedAt,
		AddedAt: s.now().UnixMilli()})
}

// DeleteThreepid unbinds an address from the user; unbinding one the
// user does not have changes nothing.
func (s *Service) DeleteThreepid(ctx context.Context, userID, medium, address string) error {
	_, err := s.store.DeleteThreepid(ctx, userID, medium, address)
	return err
}

// UserByThreepid returns the user an address is bound to, or "".
func (s *Service) UserByThreepid(ctx context.Context, medium, address string) (string, error) {
	return s.store.UserByThreepid(ctx, medium, address)
}
