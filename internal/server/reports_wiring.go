package server

import (
	"context"
	"errors"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/reports"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/reportstore"
)

// buildReports serves the reporting endpoints; the service is returned
// for the admin API.
func (s *Server) buildReports(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, acct accounts.Store) (*reports.Service, error) {
	store, err := reportstore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	svc := reports.New(store, s.Rooms, localUsers{acct}, s.Now)
	(&clientapi.ReportAPI{Auth: resolver, Reports: svc, Limits: s.Limits}).Register(router)
	return svc, nil
}

// localUsers tells whether a local account exists.
type localUsers struct{ acct accounts.Store }

func (l localUsers) Exists(ctx context.Context, userID string) (bool, error) {
	_, err := l.acct.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
