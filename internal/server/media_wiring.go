package server

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/federation/remote"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/media/thumbnailer"
	"github.com/myelin-chat/myelin/internal/mediaapi"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/thumbnailstore"
	"github.com/myelin-chat/myelin/internal/storage/urlpreviewstore"
	"github.com/myelin-chat/myelin/internal/urlpreview"
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
	s.mediaStore = store
	blobs, err := blob.NewDisk(cfg.MediaStorePath)
	if err != nil {
		return fmt.Errorf("media_store_path: %w", err)
	}
	keeper, thumbs, err := newKeeper(ctx, s.DB, store, blobs)
	if err != nil {
		return err
	}
	images := &previewImages{}
	previews, err := s.buildPreviews(ctx, images)
	if err != nil {
		return err
	}
	var previewer media.Previewer
	if previews != nil {
		previewer = previews
	}
	svc := media.New(media.Config{ServerName: cfg.ServerName, Store: store, Blobs: blobs, Keeper: keeper,
		MaxUploadSize: cfg.MaxUploadSize, Authenticated: cfg.EnableAuthenticatedMedia,
		MaxPending: cfg.MaxPendingMediaUploads, UnusedExpiry: cfg.UnusedExpirationTime,
		Federation: &media.FederationDownloader{Client: rem.Client, MaxSize: cfg.MaxUploadSize},
		InUse:      avatarInUse(acct, s.Rooms.Store()),
		Rooms:      s.Rooms.Store(),
		Thumbnailer: thumbnailer.New(thumbnailer.Config{Store: thumbs, Keeper: keeper, Sizes: cfg.ThumbnailSizes,
			Dynamic: cfg.DynamicThumbnails, MaxImagePixels: cfg.MaxImagePixels, Now: s.Now,
			Log: s.Log.With("component", "thumbnails")}),
		Previewer: previewer,
		Now:       s.Now, Log: s.Log.With("component", "media")})
	s.Media = svc
	images.svc = svc
	retCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		svc.RunRetention(retCtx, cfg.MediaRetention.LocalMediaLifetime, cfg.MediaRetention.RemoteMediaLifetime)
	})
	wg.Go(func() { svc.RunOrphanSweep(retCtx) })
	if previews != nil {
		wg.Go(func() { previews.RunExpiry(retCtx) })
	}
	s.closeFns = append(s.closeFns, func() { stop(); wg.Wait() })
	api := &mediaapi.API{Media: svc, Auth: resolver, Limits: s.Limits, BodyTimeout: cfg.Myelin.RequestBodyTimeout}
	api.Register(router)
	if fr, ok := s.Federation.(*httpapi.Router); ok {
		api.RegisterFederation(fr, s.fedAPI.Protect)
	}
	return nil
}

// newKeeper returns the keeper of the media blob store, which knows every
// table naming blobs, and the thumbnail store.
func newKeeper(ctx context.Context, db *sqldb.DB, store *mediastore.Store, blobs blob.Store) (*media.Keeper, *thumbnailstore.Store, error) {
	thumbs, err := thumbnailstore.New(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("database migrations (thumbnails): %w", err)
	}
	keeper := media.NewKeeper(store, blobs)
	keeper.AddUser(thumbs)
	return keeper, thumbs, nil
}

// previewImages is the URL previewer's image store: the media service,
// which is built after the previewer it is given.
type previewImages struct{ svc *media.Service }

func (p *previewImages) StorePreviewImage(ctx context.Context, rawURL, contentType, name string, body io.Reader) (string, error) {
	return p.svc.StorePreviewImage(ctx, rawURL, contentType, name, body)
}

func (p *previewImages) ExpirePreviewImages(ctx context.Context, before time.Time) (int, error) {
	return p.svc.ExpirePreviewImages(ctx, before)
}

// buildPreviews returns the URL previewer when url_preview_enabled is set
// (else nil, and /preview_url stays unregistered). Its fetches go through
// a guard of their own, built from url_preview_ip_range_blacklist and
// _whitelist, which config.Load requires when previews are on.
func (s *Server) buildPreviews(ctx context.Context, images urlpreview.ImageStore) (*urlpreview.Service, error) {
	cfg := s.Config
	if !cfg.URLPreviewEnabled {
		return nil, nil
	}
	store, err := urlpreviewstore.New(ctx, s.DB)
	if err != nil {
		return nil, fmt.Errorf("database migrations (url previews): %w", err)
	}
	p, err := urlpreview.New(urlpreview.Config{ServerName: cfg.ServerName,
		Guard:        netguard.New(cfg.URLPreviewIPRangeBlacklist, cfg.URLPreviewIPRangeWhitelist),
		URLBlacklist: cfg.URLPreviewURLBlacklist, MaxSize: cfg.MaxSpiderSize,
		AcceptLanguage: cfg.URLPreviewAcceptLanguage, MaxImagePixels: cfg.MaxImagePixels,
		Store: store, Media: images, Now: s.Now, Log: s.Log.With("component", "urlpreview")})
	if err != nil {
		return nil, err
	}
	return p, nil
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
	keeper, _, err := newKeeper(ctx, db, store, blobs)
	if err != nil {
		return 0, err
	}
	svc := media.New(media.Config{ServerName: cfg.ServerName, Store: store, Blobs: blobs, Keeper: keeper,
		MaxUploadSize: cfg.MaxUploadSize})
	f := mediastore.Filter{Remote: true, Local: cfg.ServerName, AccessedBefore: before.UnixMilli()}
	n, err := store.Count(ctx, f)
	if err != nil {
		return 0, err
	}
	total(n)
	deleted, err := svc.DeleteMatching(ctx, f, nil, progress)
	return len(deleted), err
}
