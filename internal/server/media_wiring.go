package server

import (
	"context"
	"fmt"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"

	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/mediaapi"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
)

// buildMedia wires the content repository: metadata in the database,
// content under media_store_path, remote media over federation, and its
// client and federation routes.
func (s *Server) buildMedia(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, rem *remote.Remote,
	acct accounts.Store) error {
	cfg := s.Config
	store, err := mediastore.New(ctx, s.DB)
	if err != nil {
		return fmt.Errorf("database migrations (media): %w", err)
	}
	blobs, err := blob.NewDisk(cfg.MediaStorePath)
	if err != nil {
		return fmt.Errorf("media_store_path: %w", err)
	}
	svc := media.New(media.Config{ServerName: cfg.ServerName, Store: store, Blobs: blobs,
		MaxUploadSize: cfg.MaxUploadSize, Authenticated: cfg.EnableAuthenticatedMedia,
		MaxPending: cfg.MaxPendingMediaUploads, UnusedExpiry: cfg.UnusedExpirationTime,
		Federation: &media.FederationDownloader{Client: rem.Client, MaxSize: cfg.MaxUploadSize},
		InUse:      avatarInUse(acct, s.Rooms.Store()),
		Now:        s.Now, Log: s.Log.With("component", "media")})
	s.Media = svc
	retCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.RunRetention(retCtx, cfg.MediaRetention.LocalMediaLifetime, cfg.MediaRetention.RemoteMediaLifetime)
	}()
	s.closeFns = append(s.closeFns, func() { stop(); <-done })
	api := &mediaapi.API{Media: svc, Auth: resolver, Limits: s.Limits, BodyTimeout: cfg.Myelin.RequestBodyTimeout}
	api.Register(router)
	if fr, ok := s.Federation.(*httpapi.Router); ok {
		api.RegisterFederation(fr, s.fedAPI.Protect)
	}
	return nil
}

// avatarInUse is media's InUse: a user's profile avatar or a room's
// current avatar.
func avatarInUse(acct accounts.Store, rooms *roomstore.Store) func(context.Context, string) (bool, error) {
	return func(ctx context.Context, mxc string) (bool, error) {
		if used, err := acct.AvatarInUse(ctx, mxc); err != nil || used {
			return used, err
		}
		return rooms.AvatarInUse(ctx, mxc)
	}
}

// PurgeRemoteMedia deletes the cached copies of other servers' media last
// accessed before before, for `myelin media purge-remote`, without
// starting a server (a running one may keep serving: it re-fetches what it
// needs). total is how many there are to delete; progress is told each
// deletion.
func PurgeRemoteMedia(ctx context.Context, cfg *config.Config, before time.Time,
	total func(n int64), progress func(done int)) (int, error) {
	dbCfg, err := DatabaseConfig(cfg)
	if err != nil {
		return 0, err
	}
	db, err := sqldb.Open(ctx, dbCfg)
	if err != nil {
		return 0, fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	store, err := mediastore.New(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("database migrations (media): %w", err)
	}
	blobs, err := blob.NewDisk(cfg.MediaStorePath)
	if err != nil {
		return 0, fmt.Errorf("media_store_path: %w", err)
	}
	svc := media.New(media.Config{ServerName: cfg.ServerName, Store: store, Blobs: blobs, MaxUploadSize: cfg.MaxUploadSize})
	f := mediastore.Filter{Remote: true, Local: cfg.ServerName, AccessedBefore: before.UnixMilli()}
	n, err := store.Count(ctx, f)
	if err != nil {
		return 0, err
	}
	total(n)
	deleted, err := svc.DeleteMatching(ctx, f, nil, progress)
	return len(deleted), err
}
