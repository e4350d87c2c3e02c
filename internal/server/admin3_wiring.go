package server

import (
	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/servernotices"
	"github.com/myelin-chat/myelin/internal/tags"
)

// historyPurgers are the domains that also forget single events a history
// purge removed: those of the room purgers that can (notifications; the
// relations and search indexes do it in the purge's own transaction, as
// the room store's indexers). The others keep rows about purged events that do no
// harm: receipts may name an event no longer held, as they may name one
// never received.
func historyPurgers(rps []admin.RoomPurger) []admin.HistoryPurger {
	var out []admin.HistoryPurger
	for _, p := range rps {
		if hp, ok := p.(admin.HistoryPurger); ok {
			out = append(out, hp)
		}
	}
	return out
}

// buildServerNotices returns the server notices service of Synapse's
// server_notices block, nil when it names no system user.
func (s *Server) buildServerNotices(resolver httpapi.TokenResolver, t *tags.Service) *servernotices.Service {
	sn := s.Config.ServerNotices
	return servernotices.New(servernotices.Config{
		SystemLocalpart: sn.SystemMXIDLocalpart, SystemDisplayName: sn.SystemMXIDDisplayName, SystemAvatarURL: sn.SystemMXIDAvatarURL,
		RoomName: sn.RoomName, RoomAvatarURL: sn.RoomAvatarURL, RoomTopic: sn.RoomTopic, AutoJoin: sn.AutoJoin,
	}, s.Config.ServerName, resolver.(*clientapi.AccountAPI).Service(), s.Rooms, t)
}
