package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/adminapi"
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/push"
	"github.com/myelin-chat/myelin/internal/reports"
	"github.com/myelin-chat/myelin/internal/servernotices"
	"github.com/myelin-chat/myelin/internal/storage/admintaskstore"
)

// adminDeps are the other domains' services the admin API reads.
type adminDeps struct {
	pushers *push.Pushers
	reports *reports.Service
	notices *servernotices.Service
}

// registerAdminAPI serves Synapse's admin API over the users service
// behind resolver (the AccountAPI) and the room engine.
func (s *Server) registerAdminAPI(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, deps adminDeps) error {
	acct := resolver.(*clientapi.AccountAPI)
	tasks, err := admintaskstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	// A task a previous run of the server left running was cut short;
	// its status must not claim it is still going.
	if err := tasks.Interrupt(ctx, admin.RunningStatuses, s.Now().UnixMilli()); err != nil {
		return err
	}
	api := &adminapi.API{Auth: resolver, Users: acct.Service(), Log: s.Log,
		Admin: &admin.Service{Users: acct.Service(), Rooms: s.Rooms, Purgers: s.roomPurgers, HistoryPurgers: historyPurgers(s.roomPurgers),
			Tasks: tasks, Federation: s.fedAdmin,
			PusherList: deps.pushers, Media: s.mediaStore, Overrides: s.Limits}, Version: Version, Now: s.Now, Updates: s.bgUpdates}
	api.Notices = deps.notices
	if deps.reports != nil {
		api.Reports = deps.reports
	}
	api.Register(router)
	return nil
}
