// Package thumbnailer is the media service's Thumbnailer (see
// internal/media's package documentation): it picks the thumbnail size a
// request gets, makes it with internal/media/thumbnail on first request,
// keeps it in the media blob store and records it in
// internal/storage/thumbnailstore, so later requests, from clients or from
// other servers, are served from storage.
//
// As in Synapse, when dynamic_thumbnails is off (the default) only the
// sizes of thumbnail_sizes are ever made, and a request gets the one that
// suits it best (Synapse's _select_thumbnail, below); with it on, the
// exact size asked for is made. Thumbnails are made on first request
// rather than on upload, for local and remote media alike, so an upload
// never waits for them and media nobody views costs nothing.
package thumbnailer

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/media/thumbnail"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/thumbnailstore"
)

// maxThumbnailBytes bounds a stored thumbnail (an 8192×8192 PNG at worst).
const maxThumbnailBytes = 256 << 20

// Config configures a Thumbnailer.
type Config struct {
	Store *thumbnailstore.Store
	// Keeper stores thumbnails in the media blob store, so that deleting
	// media never removes a thumbnail's content (see media.Keeper).
	Keeper *media.Keeper
	// Sizes is thumbnail_sizes; Dynamic is dynamic_thumbnails.
	Sizes   []config.ThumbnailSize
	Dynamic bool
	// MaxImagePixels is max_image_pixels.
	MaxImagePixels int64
	// Concurrency bounds the thumbnails made at once, and so the memory
	// they take; 0 means GOMAXPROCS.
	Concurrency int
	Now         func() time.Time
	Log         *slog.Logger
}

// Thumbnailer implements media.Thumbnailer. It is safe for concurrent use.
type Thumbnailer struct {
	cfg  Config
	sem  chan struct{}
	mu   sync.Mutex
	busy map[string]chan struct{} // thumbnails being made, by key
}

// New returns a Thumbnailer.
func New(cfg Config) *Thumbnailer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	return &Thumbnailer{cfg: cfg, sem: make(chan struct{}, cfg.Concurrency), busy: map[string]chan struct{}{}}
}

var (
	_ media.Thumbnailer        = (*Thumbnailer)(nil)
	_ media.ThumbnailForgetter = (*Thumbnailer)(nil)
)

// ForgetThumbnails implements media.ThumbnailForgetter.
func (t *Thumbnailer) ForgetThumbnails(ctx context.Context, origin, mediaID string) ([]string, error) {
	return t.cfg.Store.DeleteMedia(ctx, origin, mediaID)
}

// failed is Synapse's answer when no thumbnail can be made.
func failed() error {
	return merr.New(merr.ErrBadRequest, merr.CodeUnknown, "Failed to generate thumbnail.")
}

// Thumbnail implements media.Thumbnailer.
func (t *Thumbnailer) Thumbnail(ctx context.Context, src *media.Content, spec media.ThumbnailSpec) (*media.Thumbnail, error) {
	outType, ok := thumbnail.OutputType(src.Media.ContentType)
	if !ok {
		return nil, failed()
	}
	size, ok := t.pick(spec)
	if !ok {
		return nil, failed()
	}
	if spec.Animated {
		// An animated answer is the original itself or a still; neither
		// is worth a row, and most media are not animated at all.
		h, err := thumbnail.ReadHeader(readerAt(src.Object), src.Media.Size, t.limits())
		if err != nil {
			return nil, thumbErr(err)
		}
		if h.Animated {
			th, err := t.generate(ctx, src, size, true)
			if err != nil {
				return nil, err
			}
			return &media.Thumbnail{ContentType: th.ContentType, Body: memBody(th.Data)}, nil
		}
	}
	key := thumbKey{src.Media.Origin, src.Media.MediaID, size.Width, size.Height, size.Method, outType}
	for {
		if th, err := t.stored(ctx, key); th != nil || err != nil {
			return th, err
		}
		// One request makes a given thumbnail; the others wait for it and
		// then read it from storage.
		done, mine := t.claim(key)
		if !mine {
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		th, err := t.make(ctx, src, size, key)
		t.release(key, done)
		return th, err
	}
}

type thumbKey struct {
	origin, mediaID string
	width, height   int
	method, ctype   string
}

func (k thumbKey) String() string {
	return fmt.Sprintf("%s/%s/%dx%d/%s/%s", k.origin, k.mediaID, k.width, k.height, k.method, k.ctype)
}

func (t *Thumbnailer) claim(k thumbKey) (chan struct{}, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.busy[k.String()]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	t.busy[k.String()] = ch
	return ch, true
}

func (t *Thumbnailer) release(k thumbKey, ch chan struct{}) {
	t.mu.Lock()
	delete(t.busy, k.String())
	t.mu.Unlock()
	close(ch)
}

// stored opens a stored thumbnail, or returns nil when there is none (or
// its blob has gone: it is made again).
func (t *Thumbnailer) stored(ctx context.Context, k thumbKey) (*media.Thumbnail, error) {
	row, err := t.cfg.Store.Get(ctx, k.origin, k.mediaID, k.width, k.height, k.method, k.ctype)
	if err != nil || row == nil {
		return nil, err
	}
	obj, err := t.cfg.Keeper.Blobs().Open(ctx, row.SHA256)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &media.Thumbnail{ContentType: row.ContentType, Body: obj}, nil
}

// make makes, stores and returns the thumbnail of key.
func (t *Thumbnailer) make(ctx context.Context, src *media.Content, size config.ThumbnailSize, k thumbKey) (*media.Thumbnail, error) {
	th, err := t.generate(ctx, src, size, false)
	if err != nil {
		return nil, err
	}
	_, err = t.cfg.Keeper.Keep(ctx, bytes.NewReader(th.Data), maxThumbnailBytes, func(tx *sql.Tx, info blob.Info) error {
		return t.cfg.Store.Put(ctx, tx, thumbnailstore.Thumbnail{Origin: k.origin, MediaID: k.mediaID, Width: k.width,
			Height: k.height, Method: k.method, ContentType: th.ContentType, SHA256: info.Key, Size: info.Size,
			CreatedTS: t.cfg.Now().UnixMilli()})
	})
	if err != nil {
		return nil, err
	}
	return &media.Thumbnail{ContentType: th.ContentType, Body: memBody(th.Data)}, nil
}

// generate runs the thumbnail package, at most Concurrency at once.
func (t *Thumbnailer) generate(ctx context.Context, src *media.Content, size config.ThumbnailSize, animated bool) (*thumbnail.Thumbnail, error) {
	select {
	case t.sem <- struct{}{}:
		defer func() { <-t.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	req := thumbnail.Request{Width: size.Width, Height: size.Height, Method: thumbnail.Method(size.Method), Animated: animated}
	th, err := thumbnail.Generate(readerAt(src.Object), src.Media.Size, src.Media.ContentType, req, t.limits())
	if err != nil {
		t.cfg.Log.Info("thumbnail not made", "origin", src.Media.Origin, "media_id", src.Media.MediaID, "err", err)
		return nil, thumbErr(err)
	}
	return th, nil
}

func (t *Thumbnailer) limits() thumbnail.Limits {
	return thumbnail.Limits{MaxImagePixels: t.cfg.MaxImagePixels}
}

// thumbErr gives a thumbnail failure its Matrix meaning: an image over
// max_image_pixels is 413 M_TOO_LARGE, anything else Synapse's 400.
func thumbErr(err error) error {
	if errors.Is(err, thumbnail.ErrTooManyPixels) {
		return merr.TooLarge("the image has more pixels than max_image_pixels allows")
	}
	if errors.Is(err, thumbnail.ErrUnsupported) || errors.Is(err, thumbnail.ErrDecode) || errors.Is(err, thumbnail.ErrInvalidSize) {
		return failed()
	}
	return err
}

// memBody serves a thumbnail just made from memory.
func memBody(b []byte) io.ReadSeekCloser { return nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// readerAt gives thumbnail.Generate random access to stored content: the
// disk store's objects are files; anything else is read through Seek.
func readerAt(o blob.Object) io.ReaderAt {
	if ra, ok := o.(io.ReaderAt); ok {
		return ra
	}
	return &seekReaderAt{rs: o}
}

type seekReaderAt struct {
	mu sync.Mutex
	rs io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.rs, p)
}
