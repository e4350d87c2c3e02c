package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/appservice"
	"github.com/myelin-chat/myelin/internal/appservice/txnsender"
	"github.com/myelin-chat/myelin/internal/e2ee"
	"github.com/myelin-chat/myelin/internal/presence"
	"github.com/myelin-chat/myelin/internal/receipts"
	"github.com/myelin-chat/myelin/internal/storage/appservicestore"
	"github.com/myelin-chat/myelin/internal/storage/receiptstore"
	"github.com/myelin-chat/myelin/internal/typing"
)

// buildAppserviceTxns starts the transactions to the registered
// appservices (application-service-api "Pushing events"): one sender per
// appservice with a url, following the room stream and, as each
// registration asks, typing, receipts, presence (receive_ephemeral),
// to-device messages (receive_ephemeral or org.matrix.msc3202, as Synapse
// ties them to MSC2409) and device lists and key counts
// (org.matrix.msc3202).
func (s *Server) buildAppserviceTxns(ctx context.Context, typ *typing.Service, pres *presence.Service,
	rcpt *receipts.Service, rstore *receiptstore.Store, e2eeSvc *e2ee.Service) error {
	if s.Appservices == nil || len(s.Appservices.All()) == 0 {
		return nil
	}
	store, err := appservicestore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	var services []txnsender.AppService
	for _, r := range s.Appservices.All() {
		as := txnsender.AppService{ID: r.ID, SenderUserID: r.SenderUserID(s.Config.ServerName), Interest: r,
			Ephemeral: r.ReceiveEphemeral, ToDevice: r.ReceiveEphemeral || r.MSC3202, DeviceLists: r.MSC3202}
		if r.URL != "" {
			as.Pusher = registrationPusher{client: s.AppserviceClient, reg: r}
		}
		services = append(services, as)
	}
	sender, err := txnsender.New(ctx, txnsender.Config{Store: store, Rooms: s.Rooms, AppServices: services,
		Typing: typ, Presence: pres, Receipts: rcpt, ReceiptStore: rstore,
		ToDevice: e2eeSvc.ToDeviceStream(), DeviceLists: e2eeSvc.DeviceListStream(), KeyCounts: e2eeSvc.UserKeyCounts,
		Now: s.Now, Log: s.Log})
	if err != nil {
		return err
	}
	sender.Start()
	s.closeFns = append(s.closeFns, sender.Close)
	return nil
}

// registrationPusher sends one appservice's transactions through the
// appservice client.
type registrationPusher struct {
	client *appservice.Client
	reg    *appservice.Registration
}

func (p registrationPusher) PushTransaction(ctx context.Context, txnID string, body []byte) error {
	return p.client.PushTransaction(ctx, p.reg, txnID, body)
}
