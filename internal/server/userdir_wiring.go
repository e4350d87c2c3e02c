package server

import (
	"context"

	"github.com/myelin-chat/myelin/internal/clientapi"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/userdirstore"
	"github.com/myelin-chat/myelin/internal/userdir"
)

// buildUserDirectory starts the user directory, which follows the room
// stream; nil when user_directory.enabled is false.
func (s *Server) buildUserDirectory(ctx context.Context, acct accounts.Store) (*userdir.Directory, error) {
	cfg := s.Config.UserDirectory
	if !cfg.Enabled {
		return nil, nil
	}
	store, err := userdirstore.New(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	s.roomPurgers = append(s.roomPurgers, store)
	dir, err := userdir.New(ctx, userdir.Config{Store: store, Rooms: s.Rooms, Accounts: acct,
		SearchAllUsers: cfg.SearchAllUsers, PreferLocalUsers: cfg.PreferLocalUsers, Log: s.Log})
	if err != nil {
		return nil, err
	}
	if err := dir.Start(ctx); err != nil {
		return nil, err
	}
	s.closeFns = append(s.closeFns, dir.Close)
	return dir, nil
}

func (s *Server) registerUserDirectoryAPI(router *httpapi.Router, resolver httpapi.TokenResolver, dir *userdir.Directory) {
	api := &clientapi.UserDirectoryAPI{Auth: resolver}
	if dir != nil {
		api.Directory = dir
	}
	api.Register(router)
}
