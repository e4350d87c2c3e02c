package server

import (
	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/turn"
)

// wireVoIP serves the TURN credentials of the turn_* keys.
func (s *Server) wireVoIP(router *httpapi.Router, auth httpapi.TokenResolver) error {
	t := s.Config.TURN
	secret, err := s.Config.TURNSharedSecret()
	if err != nil {
		return err
	}
	(&clientapi.VoIPAPI{Auth: auth, AllowGuests: t.AllowGuests, Now: s.Now, Servers: turn.Servers{
		URIs: t.URIs, SharedSecret: secret, Username: t.Username, Password: t.Password, Lifetime: t.UserLifetime,
	}}).Register(router)
	return nil
}
