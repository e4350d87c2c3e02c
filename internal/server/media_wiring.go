package server

import (
	"context"
	"fmt"

	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/mediaapi"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// buildMedia wires the content repository: metadata in the database,
// content under media_store_path, remote media over federation, and its
// client and federation routes.
func (s *Server) buildMedia(ctx context.Context, router *httpapi.Router, resolver httpapi.TokenResolver, rem *remote.Remote) error {
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
		Federation: &media.FederationDownloader{Client: rem.Client},
		Now:        s.Now, Log: s.Log.With("component", "media")})
	s.Media = svc
	api := &mediaapi.API{Media: svc, Auth: resolver, Limits: s.Limits, BodyTimeout: cfg.Myelin.RequestBodyTimeout}
	api.Register(router)
	if fr, ok := s.Federation.(*httpapi.Router); ok {
		api.RegisterFederation(fr, s.fedAPI.Protect)
	}
	return nil
}
