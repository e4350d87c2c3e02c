package server

import (
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/spaces"
)

// wireSpaces serves the space hierarchy to clients and other servers.
func (s *Server) wireSpaces(router *httpapi.Router, resolver httpapi.TokenResolver, rem *remote.Remote) {
	svc := spaces.New(spaces.Config{Engine: s.Rooms, Remote: rem, Log: s.Log, Now: s.Now})
	s.fedAPI.Spaces = svc
	(&clientapi.SpacesAPI{Auth: resolver, Spaces: svc, Aliases: s.Rooms.Store(), Fed: rem}).Register(router)
}
