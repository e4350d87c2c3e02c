package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/openid"
	"github.com/myelin-chat/myelin/internal/storage/openidstore"
)

// buildOpenID serves OpenID token requests and, on the federation
// listener, their userinfo checks.
func (s *Server) buildOpenID(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver) error {
	store, err := openidstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	api := &clientapi.OpenIDAPI{Auth: resolver, OpenID: &openid.Service{Store: store, Now: s.Now}, ServerName: s.Config.ServerName}
	api.Register(router)
	if fr, ok := s.Federation.(*httpapi.Router); ok {
		api.RegisterFederation(fr)
	}
	return nil
}
