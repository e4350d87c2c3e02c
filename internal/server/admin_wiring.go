package server

import (
	"github.com/myelin-chat/myelin/internal/admin"
	"github.com/myelin-chat/myelin/internal/adminapi"
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
)

// registerAdminAPI serves Synapse's admin API over the users service
// behind resolver (the AccountAPI) and the room engine.
func (s *Server) registerAdminAPI(router *httpapi.Router, resolver httpapi.TokenResolver) {
	acct := resolver.(*clientapi.AccountAPI)
	api := &adminapi.API{Auth: resolver, Users: acct.Service(),
		Admin: &admin.Service{Users: acct.Service(), Rooms: s.Rooms}, Version: Version, Now: s.Now}
	api.Register(router)
}
