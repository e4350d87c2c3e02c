// Package urlpreview answers GET /_matrix/client/v1/media/preview_url
// (client-server-api "Content repository"): it fetches a URL a user
// posted, reads its Open Graph properties (or Synapse's fallbacks: the
// title, meta description and first image), fetches the preview's image
// and stores it as local media, so the answer's og:image is an mxc://
// URI with matrix:image:size.
//
// Fetching a URL on a user's behalf is server-side request forgery by
// design, so every connection goes through a netguard.Guard built from
// url_preview_ip_range_blacklist/whitelist, which checks the address
// actually dialed: after DNS resolution, on every redirect, and for the
// image too. url_preview_url_blacklist is checked on the URL and on every
// redirect; max_spider_size bounds each body, a timeout each fetch.
// Answers are cached in internal/storage/urlpreviewstore for an hour and
// looked up by URL and `ts`, as Synapse does; Expire removes the expired
// answers and the images stored more than two days ago (Synapse's
// _expire_url_cache_data).
package urlpreview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/media/thumbnail"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/urlpreviewstore"
	"golang.org/x/net/html/charset"
)

const (
	userAgent = "Myelin URL preview (Matrix homeserver)"
	// DefaultTimeout bounds one fetch (the page, then its image).
	DefaultTimeout = 20 * time.Second
	// cacheFor is how long a preview is served from the cache: Synapse's
	// one hour.
	cacheFor = time.Hour
	// maxURLBytes bounds the URL asked for.
	maxURLBytes = 2048
	// ImageLifetime is how long a preview's image is kept: Synapse's
	// IMAGE_CACHE_EXPIRY_MS, two days, longer than the answer is cached,
	// since clients keep showing a preview they fetched.
	ImageLifetime = 48 * time.Hour
	// ExpireInterval is how often RunExpiry runs Expire.
	ExpireInterval = 10 * time.Minute
	// expireBatch bounds the answers one statement deletes.
	expireBatch = 500
)

// ImageStore keeps the previews' images as local media; the media
// service (internal/media) is one.
type ImageStore interface {
	// StorePreviewImage stores the image of rawURL's preview, as no
	// user's media, and returns its media ID.
	StorePreviewImage(ctx context.Context, rawURL, contentType, name string, body io.Reader) (string, error)
	// ExpirePreviewImages deletes the images stored before before.
	ExpirePreviewImages(ctx context.Context, before time.Time) (int, error)
}

// Config configures a Service.
type Config struct {
	// ServerName is the origin of the stored images' mxc:// URIs.
	ServerName string
	// Guard checks every address dialed (url_preview_ip_range_blacklist
	// and _whitelist); required.
	Guard *netguard.Guard
	// URLBlacklist is url_preview_url_blacklist.
	URLBlacklist []config.URLBlacklistRule
	// MaxSize is max_spider_size; 0 means Synapse's 10M.
	MaxSize int64
	// AcceptLanguage is url_preview_accept_language; nil means "en".
	AcceptLanguage []string
	// MaxImagePixels bounds the images whose size is read (for
	// og:image:width/height).
	MaxImagePixels int64
	// Timeout bounds each fetch; 0 means DefaultTimeout.
	Timeout time.Duration
	// LookupHost resolves names; nil means the system resolver. Whatever
	// it answers, the guard checks the address dialed.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)
	Store      *urlpreviewstore.Store
	Media      ImageStore
	Now        func() time.Time
	Log        *slog.Logger
}

// Service makes URL previews. It is safe for concurrent use.
type Service struct {
	cfg            Config
	rules          []rule
	client         *http.Client
	timeout        time.Duration
	maxSize        int64
	acceptLanguage string

	mu      sync.Mutex
	flights map[string]*flight // previews being made, by URL
}

// New returns a Service. It fails only on a URL blacklist that config.Load
// would have refused.
func New(cfg Config) (*Service, error) {
	if cfg.Guard == nil {
		return nil, fmt.Errorf("urlpreview: a netguard.Guard is required")
	}
	rules, err := compileRules(cfg.URLBlacklist)
	if err != nil {
		return nil, fmt.Errorf("urlpreview: url_preview_url_blacklist: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, rules: rules, timeout: cfg.Timeout, maxSize: cfg.MaxSize, flights: map[string]*flight{}}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxSize <= 0 {
		s.maxSize = 10 << 20
	}
	langs := cfg.AcceptLanguage
	if len(langs) == 0 {
		langs = []string{"en"}
	}
	s.acceptLanguage = strings.Join(langs, ", ")
	s.client = newClient(cfg.Guard, cfg.LookupHost, rules, s.timeout)
	return s, nil
}

// Preview returns the Open Graph object of rawURL as of ts (ms since the
// epoch; 0 means now) for userID, from the cache when a version fetched
// near ts is still fresh at ts, else freshly fetched and cached.
func (s *Service) Preview(ctx context.Context, userID, rawURL string, ts int64) (json.RawMessage, error) {
	if len(rawURL) > maxURLBytes {
		return nil, merr.InvalidParam(fmt.Sprintf("the URL is longer than %d bytes", maxURLBytes))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, merr.InvalidParam("invalid URL")
	}
	if err := checkURL(s.rules, u); err != nil {
		return nil, err
	}
	now := s.cfg.Now().UnixMilli()
	if ts <= 0 {
		ts = now
	}
	if s.cfg.Store != nil {
		cached, err := s.cfg.Store.Get(ctx, rawURL, ts)
		if err != nil {
			return nil, err
		}
		if cached != nil && cached.ExpiresTS > ts {
			return cached.OG, nil
		}
	}
	// A link posted in a busy room is previewed by every client at once:
	// one fetch (and one stored image) serves them all. The fetch does not
	// end with the first asker's request, since others wait for it; its
	// own timeouts bound it.
	f, first := s.join(rawURL)
	if !first {
		select {
		case <-f.done:
			return f.raw, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer s.land(rawURL, f)
	f.raw, f.err = s.fetchAndStore(context.WithoutCancel(ctx), rawURL, u, now)
	return f.raw, f.err
}

// flight is a preview being made, which later askers of the same URL wait
// for.
type flight struct {
	done    chan struct{}
	waiters int
	raw     json.RawMessage
	err     error
}

func (s *Service) join(rawURL string) (*flight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.flights[rawURL]; ok {
		f.waiters++
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	s.flights[rawURL] = f
	return f, true
}

func (s *Service) land(rawURL string, f *flight) {
	s.mu.Lock()
	delete(s.flights, rawURL)
	s.mu.Unlock()
	close(f.done)
}

func (s *Service) fetchAndStore(ctx context.Context, rawURL string, u *url.URL, now int64) (json.RawMessage, error) {
	og, mediaID, err := s.build(ctx, rawURL, u)
	if err != nil {
		s.cfg.Log.Info("url preview failed", "url", rawURL, "err", err)
		return nil, err
	}
	raw, err := json.Marshal(og)
	if err != nil {
		return nil, err
	}
	if s.cfg.Store != nil {
		if err := s.cfg.Store.Put(ctx, urlpreviewstore.Preview{URL: rawURL, FetchedTS: now,
			ExpiresTS: now + cacheFor.Milliseconds(), OG: raw, MediaID: mediaID}); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// build fetches u and makes its Open Graph object: a page's properties,
// or, when u is itself an image, the image.
func (s *Service) build(ctx context.Context, rawURL string, u *url.URL) (map[string]any, string, error) {
	page, err := s.fetch(ctx, u)
	if err != nil {
		return nil, "", err
	}
	if strings.HasPrefix(page.contentType, "image/") {
		og := map[string]any{}
		mediaID, err := s.storeImage(ctx, rawURL, page, og)
		if err != nil {
			return nil, "", err
		}
		return og, mediaID, nil
	}
	if page.contentType != "text/html" && page.contentType != "application/xhtml+xml" {
		// Synapse answers other content with an empty object.
		return map[string]any{}, "", nil
	}
	body, err := charset.NewReader(bytes.NewReader(page.body), page.rawType)
	if err != nil {
		body = bytes.NewReader(page.body)
	}
	og := parseHTML(body)
	img, _ := og["og:image"].(string)
	delete(og, "og:image")
	for _, k := range []string{"og:image:width", "og:image:height", "og:image:type", "og:image:url", "og:image:secure_url"} {
		delete(og, k) // replaced by what the stored image really is
	}
	if img == "" {
		return og, "", nil
	}
	iu, err := page.url.Parse(img)
	if err != nil || checkURL(s.rules, iu) != nil {
		return og, "", nil
	}
	pic, err := s.fetch(ctx, iu)
	if err != nil || !strings.HasPrefix(pic.contentType, "image/") {
		// A page whose image cannot be fetched still has a preview.
		s.cfg.Log.Info("url preview image not fetched", "url", iu.String(), "err", err)
		return og, "", nil
	}
	mediaID, err := s.storeImage(ctx, rawURL, pic, og)
	if err != nil {
		return nil, "", err
	}
	return og, mediaID, nil
}

// storeImage stores a fetched image as the preview cache's media and
// describes it in og
// as the spec's example does: og:image (mxc://), og:image:type,
// matrix:image:size, and og:image:width/height when its header is
// readable.
func (s *Service) storeImage(ctx context.Context, rawURL string, f *fetched, og map[string]any) (string, error) {
	if s.cfg.Media == nil {
		return "", nil
	}
	name := path.Base(f.url.Path)
	if name == "/" || name == "." {
		name = ""
	}
	mediaID, err := s.cfg.Media.StorePreviewImage(ctx, rawURL, f.contentType, name, bytes.NewReader(f.body))
	if err != nil {
		return "", err
	}
	og["og:image"] = "mxc://" + s.cfg.ServerName + "/" + mediaID
	og["og:image:type"] = f.contentType
	og["matrix:image:size"] = len(f.body)
	if h, err := thumbnail.ReadHeader(bytes.NewReader(f.body), int64(len(f.body)), thumbnail.Limits{MaxImagePixels: s.cfg.MaxImagePixels}); err == nil {
		og["og:image:width"], og["og:image:height"] = h.Width, h.Height
	}
	return mediaID, nil
}

// Expire deletes the cached answers that expired and the images stored
// more than ImageLifetime ago, as Synapse's _expire_url_cache_data does,
// and returns how many of each.
func (s *Service) Expire(ctx context.Context) (answers, images int, err error) {
	now := s.cfg.Now()
	if s.cfg.Store != nil {
		for {
			_, n, err := s.cfg.Store.DeleteExpired(ctx, now.UnixMilli(), expireBatch)
			answers += n
			if err != nil {
				return answers, 0, err
			}
			if n < expireBatch {
				break
			}
		}
	}
	if s.cfg.Media != nil {
		images, err = s.cfg.Media.ExpirePreviewImages(ctx, now.Add(-ImageLifetime))
	}
	return answers, images, err
}

// RunExpiry runs Expire every ExpireInterval until ctx ends.
func (s *Service) RunExpiry(ctx context.Context) {
	t := time.NewTicker(ExpireInterval)
	defer t.Stop()
	for {
		a, i, err := s.Expire(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Error("expiring the URL preview cache failed", "err", err)
		} else if a+i > 0 {
			s.cfg.Log.Debug("URL preview cache expired", "answers", a, "images", i)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
