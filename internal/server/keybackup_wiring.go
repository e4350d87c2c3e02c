package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/keybackup"
	"github.com/myelin-chat/myelin/internal/storage/keybackupstore"
)

// buildKeyBackup builds server-side key backups on the server's database
// and serves /room_keys.
func (s *Server) buildKeyBackup(ctx context.Context, router *httpapi.Router, auth httpapi.TokenResolver) error {
	store, err := keybackupstore.New(ctx, s.DB)
	if err != nil {
		return err
	}
	(&clientapi.KeyBackupAPI{Service: keybackup.New(store), Auth: auth}).Register(router)
	return nil
}
