package media

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"mime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// Defaults for Config's zero values.
const (
	// DefaultUnusedExpiry is the spec's recommended lifetime of an ID from
	// /media/v1/create that waits for its upload (Synapse's
	// unused_expiration_time default).
	DefaultUnusedExpiry = 24 * time.Hour
	// DefaultMaxPending is Synapse's max_pending_media_uploads default.
	DefaultMaxPending = 5
	// DefaultTimeout is timeout_ms when a download does not give it
	// (content-repo.yaml); MaxTimeout caps it, as Synapse does.
	DefaultTimeout = 20 * time.Second
	MaxTimeout     = 60 * time.Second
	// RemoteFetchTimeout bounds one fetch of remote media, however many
	// requests wait for it.
	RemoteFetchTimeout = 5 * time.Minute
	// MaxUploadNameBytes and MaxContentTypeBytes bound what an upload may
	// name itself; longer names are cut (at a character boundary) and
	// longer types become application/octet-stream.
	MaxUploadNameBytes  = 255
	MaxContentTypeBytes = 255
	// accessGap is how often at most a download records its access.
	accessGap = time.Hour
)

// Config configures a Service.
type Config struct {
	ServerName string
	Store      *mediastore.Store
	Blobs      blob.Store
	// Keeper stores and deletes the content rows name (see Keeper); nil
	// makes one of Store and Blobs that knows no other tables.
	Keeper *Keeper
	// MaxUploadSize bounds uploads and cached remote media (max_upload_size).
	MaxUploadSize int64
	// Authenticated freezes the unauthenticated endpoints
	// (enable_authenticated_media): media stored while it is set is only
	// served on the authenticated ones.
	Authenticated bool
	// MaxPending and UnusedExpiry bound /media/v1/create
	// (max_pending_media_uploads, unused_expiration_time).
	MaxPending   int
	UnusedExpiry time.Duration
	// Federation fetches remote media; nil serves local media only.
	Federation Federation
	// Thumbnailer and Previewer are the optional parts (see the package
	// documentation); nil leaves their endpoints unregistered.
	Thumbnailer Thumbnailer
	Previewer   Previewer
	// InUse reports whether an mxc URI is some user's or room's avatar;
	// retention and admin deletions with keep_profiles spare those.
	InUse func(ctx context.Context, mxc string) (bool, error)
	// Rooms is read by the admin API's room scans; nil knows no rooms.
	Rooms RoomEvents
	Now   func() time.Time
	Log   *slog.Logger
}

// Service is the content repository. It is safe for concurrent use.
type Service struct {
	cfg Config

	mu      sync.Mutex
	waiters map[string][]chan struct{} // pending local uploads, by media ID
	fetches map[string]*fetch          // remote fetches in flight, by origin/ID
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.UnusedExpiry <= 0 {
		cfg.UnusedExpiry = DefaultUnusedExpiry
	}
	if cfg.Keeper == nil {
		cfg.Keeper = NewKeeper(cfg.Store, cfg.Blobs)
	}
	return &Service{cfg: cfg, waiters: map[string][]chan struct{}{}, fetches: map[string]*fetch{}}
}

// MaxUploadSize is the largest upload accepted, for /media/v1/config.
func (s *Service) MaxUploadSize() int64 { return s.cfg.MaxUploadSize }

// ServerName is the origin of local media.
func (s *Service) ServerName() string { return s.cfg.ServerName }

// Blobs is the content store, for the optional parts.
func (s *Service) Blobs() blob.Store { return s.cfg.Blobs }

// Thumbnailer and Previewer return the optional parts (nil when absent).
func (s *Service) Thumbnailer() Thumbnailer { return s.cfg.Thumbnailer }
func (s *Service) Previewer() Previewer     { return s.cfg.Previewer }

func (s *Service) nowMS() int64 { return s.cfg.Now().UnixMilli() }

// MXC is the mxc:// URI of a media ID.
func MXC(origin, mediaID string) string { return "mxc://" + origin + "/" + mediaID }

// ValidMediaID reports whether id may be a media ID: only A-Za-z0-9, "_"
// and "-" (client-server-api "Security considerations" of the content
// repository: this is what stops path traversal), at most 255 bytes.
func ValidMediaID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkMXC refuses an origin or media ID that is not valid as 404, as a
// media ID that cannot exist.
func checkMXC(origin, mediaID string) error {
	if !ids.ValidServerName(origin) || !ValidMediaID(mediaID) {
		return merr.NotFound("Unknown media")
	}
	return nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newMediaID is 24 random letters and digits (about 143 bits), as Synapse
// makes them.
func newMediaID() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(idAlphabet)))
	for range 24 {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteByte(idAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// CleanContentType returns what an upload's Content-Type is stored as: the
// header as given when it parses as a media type (the spec asks servers to
// return the uploaded type), application/octet-stream otherwise (absent,
// unparsable or too long).
func CleanContentType(ct string) string {
	ct = strings.TrimSpace(ct)
	if ct == "" || len(ct) > MaxContentTypeBytes || !utf8.ValidString(ct) {
		return "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(mt, params)
}

// CleanUploadName bounds a file name: control characters are dropped and it
// is cut to MaxUploadNameBytes at a character boundary.
func CleanUploadName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	for len(name) > MaxUploadNameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// storeErr gives the metadata store's errors their Matrix meaning.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mediastore.ErrNotFound):
		return merr.NotFound("Unknown media")
	case errors.Is(err, mediastore.ErrNotOwner):
		return merr.Forbidden("This media ID was created by another user")
	case errors.Is(err, mediastore.ErrAlreadyStored):
		return merr.New(merr.ErrConflict, merr.CodeCannotOverwriteMedia, "Media already uploaded")
	case errors.Is(err, mediastore.ErrTooManyPending):
		e := merr.LimitExceeded(time.Minute)
		e.Message = "Too many pending media uploads"
		return e
	}
	return fmt.Errorf("media: %w", err)
}

// tooLarge is the upload refusal (413 M_TOO_LARGE).
func (s *Service) tooLarge() error {
	return merr.TooLarge(fmt.Sprintf("Cannot upload files larger than %d bytes", s.cfg.MaxUploadSize))
}
