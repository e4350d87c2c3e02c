package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/spaces"
	"github.com/myelin-chat/myelin/internal/storage/spacestore"
)

// buildSpaces serves the space hierarchy to clients and other servers, and
// returns the service (which also tells whether guests may join a room
// held by other servers).
func (s *Server) buildSpaces(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, rem *remote.Remote) (*spaces.Service, error) {
	store, err := spacestore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	svc := spaces.New(spaces.Config{Engine: s.Rooms, Remote: rem, Sessions: store, Log: s.Log, Now: s.Now})
	s.fedAPI.Spaces = svc
	(&clientapi.SpacesAPI{Auth: resolver, Spaces: svc, Aliases: s.Rooms.Store(), Fed: rem}).Register(router)
	return svc, nil
}
