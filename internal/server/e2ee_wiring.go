package server

import (
	"context"
	"encoding/json"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/federationapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/e2eestore"
)

// buildE2EE builds the end-to-end encryption service (to-device messages,
// device keys) on the server's database. It is built before the users
// service, whose device hook it is.
func (s *Server) buildE2EE(ctx context.Context, acct accounts.Store) (*e2ee.Service, error) {
	store, err := e2eestore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	// A device and its keys and to-device queue go in one commit.
	deleteE2EEWithDevices(acct)
	return e2ee.New(ctx, e2ee.Config{Store: store, Devices: acct, Notifier: s.Rooms.Notifier(),
		Rooms: s.Rooms.Store(), RoomNow: s.Rooms.Stream().Current,
		ServerName: s.Config.ServerName, Now: s.Now, Log: s.Log})
}

// wireE2EE connects the service to /sync (the to-device stream and the key
// counts), the client API and federation (m.direct_to_device both ways).
// The federation must be built.
func (s *Server) wireE2EE(svc *e2ee.Service, router *httpapi.Router, auth *clientapi.AccountAPI) {
	s.Syncer.AddStream(svc.ToDeviceStream())
	s.Syncer.SetDeviceKeyCounts(svc)
	(&clientapi.E2EEAPI{Service: svc, Auth: auth, UIA: auth, Dehydration: s.Config.Experimental.MSC3814Enabled}).Register(router)
	svc.SetFederation(eduSender{s.Sender})
	// Durable: a message that could not be stored fails the transaction,
	// and the sending server sends it again (message_id deduplicates).
	s.fedAPI.HandleDurableEDU(e2ee.EDUDirectToDevice, func(ctx context.Context, edu federationapi.InboundEDU) error {
		return svc.ReceiveDirectToDevice(ctx, edu.Origin, edu.Content)
	})
}

// eduSender queues the service's EDUs in the federation sender.
type eduSender struct{ snd *sender.Sender }

func (e eduSender) SendEDU(ctx context.Context, eduType string, content json.RawMessage, destination string) error {
	return e.snd.SendEDU(ctx, sender.EDU{Type: eduType, Content: content, Durable: true}, []string{destination})
}

// wireDeviceLists connects device lists: the /sync stream, and other
// servers' device lists and keys (m.device_list_update both ways, the
// /user/devices and /user/keys endpoints, and the client for asking other
// servers).
func (s *Server) wireDeviceLists(svc *e2ee.Service, rem *remote.Remote) {
	s.Syncer.AddStream(svc.DeviceListStream())
	if s.fedAPI == nil {
		return
	}
	s.Rooms.OnCommit(func(batch []rooms.Committed) {
		var changes []e2ee.MemberChange
		for _, c := range batch {
			ev := c.Event
			if sk := ev.StateKey(); ev.Type() == event.TypeMember && sk != nil {
				changes = append(changes, e2ee.MemberChange{RoomID: ev.RoomID(), UserID: *sk, Membership: ev.Membership(), StreamPos: c.StreamPos})
			}
		}
		if len(changes) > 0 {
			// Remote users' joins mark their cached device lists stale
			// before anyone can query them (one indexed update each); the
			// rest runs in the background.
			svc.MembershipsChanged(context.Background(), changes)
		}
	})
	svc.SetRemote(rem.Client)
	s.fedAPI.ServeUserKeys(svc)
	// Durable too: a repeated update is recognised by its stream_id.
	s.fedAPI.HandleDurableEDU(e2ee.EDUDeviceListUpdate, func(ctx context.Context, edu federationapi.InboundEDU) error {
		return svc.ReceiveDeviceListUpdate(ctx, edu.Origin, edu.Content)
	})
	s.fedAPI.HandleEDU(e2ee.EDUSigningKeyUpdate, func(ctx context.Context, edu federationapi.InboundEDU) error {
		return svc.ReceiveSigningKeyUpdate(ctx, edu.Origin, edu.Content)
	})
}
