package server

import (
	"context"
	"time"

	"github.com/myelin-chat/myelin/internal/keybackup"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
	"github.com/myelin-chat/myelin/internal/storage/pushstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/users"
)

// deleteE2EEWithDevices makes every deletion of devices in acct (one
// device, all of a user's, a deactivation) delete their end-to-end data in
// the same transaction: device keys, one-time and fallback keys, to-device
// queues, signatures of the devices and a dehydrated device's record
// (e2eestore.DeleteDevicesTx). The server and the account commands both
// install it.
func deleteE2EEWithDevices(acct accounts.Store) {
	acct.SetDeviceDeletionHook(e2eestore.DeleteDevicesTx)
}

// OfflineAccountHooks wires acct and its users service svc, for the
// account commands of cmd/myelin (deactivate-user, reset-password), which
// work on db with no server in their process, to delete what a running
// server's deletion of devices and accounts deletes of other domains,
// through the same code: the end-to-end data of deleted devices
// (deleteE2EEWithDevices) with their pushers, and the key backups of a
// deactivated account (keybackup.Service.OnDeactivate). Cross-signing keys
// stay, in both, as in Synapse.
//
// What needs a running server is left out: leaving the user's rooms, the
// user directory, and the device-list change that tells other users and
// servers the devices are gone (its stream positions belong to the
// server's process); their clients learn it when they next query the
// user's keys.
func OfflineAccountHooks(ctx context.Context, db *sqldb.DB, acct accounts.Store, svc *users.Service, now func() time.Time) error {
	if _, err := e2eestore.New(ctx, db); err != nil { // the hook's tables
		return err
	}
	deleteE2EEWithDevices(acct)
	backups, err := keybackupstore.New(ctx, db)
	if err != nil {
		return err
	}
	pstore, err := pushstore.New(ctx, db)
	if err != nil {
		return err
	}
	svc.SetHooks(users.Hooks{Deactivate: keybackup.New(backups), Devices: pushersOfDevices{push.NewPushers(pstore, now)}})
	return nil
}

// pushersOfDevices removes the pushers of deleted devices (the users
// service's device hook without the end-to-end part, which needs the
// server).
type pushersOfDevices struct{ pushers *push.Pushers }

func (p pushersOfDevices) OnDevicesDeleted(ctx context.Context, userID string, deviceIDs []string) error {
	return p.pushers.OnDevicesDeleted(ctx, userID, deviceIDs)
}

func (pushersOfDevices) OnDeviceUpdated(context.Context, string, string) error { return nil }
