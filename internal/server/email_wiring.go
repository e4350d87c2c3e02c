package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/mail"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/threepidstore"
	"github.com/myelin-chat/myelin/internal/threepid"
)

// buildThreepids builds the validation of email addresses from the email
// block: the SMTP sender, the session store and the service the account
// endpoints use. nil when the block is absent: the email endpoints then
// refuse.
func (s *Server) buildThreepids(ctx context.Context, acct accounts.Store) (*threepid.Service, error) {
	e := s.Config.Email
	if !e.Enabled {
		return nil, nil
	}
	sender, err := mail.New(mail.Config{Host: e.SMTPHost, Port: e.SMTPPort, User: e.SMTPUser, Pass: e.SMTPPass,
		ForceTLS: e.ForceTLS, EnableTLS: e.EnableTLS, RequireTLS: e.RequireTransportSecurity, TLSName: e.TLSName,
		From: e.From(), Hostname: s.Config.ServerName}, s.Now)
	if err != nil {
		return nil, err
	}
	store, err := threepidstore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	return threepid.New(store, sender, acct, threepid.Options{PublicBaseURL: s.Config.PublicBaseURL, ServerName: s.Config.ServerName,
		AppName: e.AppName, TokenLifetime: e.ValidationTokenLifetime, Now: s.Now, Logger: s.Log}), nil
}
