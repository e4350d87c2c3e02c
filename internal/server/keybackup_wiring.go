package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/keybackup"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
)

// buildKeyBackup builds server-side key backups on the server's database.
// It is built before the users service, whose deactivation hook it is.
func (s *Server) buildKeyBackup(ctx context.Context) (*keybackup.Service, error) {
	store, err := keybackupstore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	return keybackup.New(store), nil
}

// wireKeyBackup serves /room_keys.
func (s *Server) wireKeyBackup(svc *keybackup.Service, router *httpapi.Router, auth httpapi.TokenResolver) {
	(&clientapi.KeyBackupAPI{Service: svc, Auth: auth}).Register(router)
}
