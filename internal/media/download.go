package media

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// Content is media opened for reading: its row and its content. The
// caller closes Object.
type Content struct {
	Media  *mediastore.Media
	Object blob.Object
}

// OpenOptions say how a download may be answered.
type OpenOptions struct {
	// Timeout is how long to wait for content still being uploaded
	// (timeout_ms); 0 means DefaultTimeout, and it is capped at
	// MaxTimeout.
	Timeout time.Duration
	// AllowRemote permits fetching another server's media we have not
	// cached (allow_remote, default true).
	AllowRemote bool
	// Unauthenticated is a request on the deprecated /_matrix/media/v3
	// endpoints: media stored during the freeze is 404 there, and with
	// the freeze on nothing is fetched for them (client-server-api
	// "Content repository", the freeze).
	Unauthenticated bool
	// LocalOnly answers only for our own media (a federation request):
	// anything else is 404.
	LocalOnly bool
}

// Open returns media for download: local media (waiting up to the timeout
// for an upload in progress: 504 M_NOT_YET_UPLOADED after it), or another
// server's, from the cache or fetched over federation. Unknown media is
// 404 M_NOT_FOUND, and so is quarantined media.
func (s *Service) Open(ctx context.Context, origin, mediaID string, opts OpenOptions) (*Content, error) {
	if err := checkMXC(origin, mediaID); err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	timeout = min(timeout, MaxTimeout)
	local := origin == s.cfg.ServerName
	if !local && opts.LocalOnly {
		return nil, merr.NotFound("Not our media")
	}
	var (
		m   *mediastore.Media
		err error
	)
	if local {
		m, err = s.waitLocal(ctx, mediaID, timeout)
	} else {
		m, err = s.cfg.Store.Get(ctx, origin, mediaID)
		if errors.Is(err, mediastore.ErrNotFound) {
			m, err = s.remote(ctx, origin, mediaID, timeout, opts)
		} else if err != nil {
			err = storeErr(err)
		}
	}
	if err != nil {
		return nil, err
	}
	if m.QuarantinedBy != "" {
		return nil, merr.NotFound("Unknown media")
	}
	if opts.Unauthenticated && m.Authenticated {
		// content-repo.yaml: the deprecated endpoints MAY answer 404
		// M_NOT_FOUND for media stored after the freeze.
		return nil, merr.NotFound("This media is only served on the authenticated endpoints (/_matrix/client/v1/media)")
	}
	obj, err := s.cfg.Blobs.Open(ctx, m.SHA256)
	if errors.Is(err, blob.ErrNotFound) {
		s.cfg.Log.Error("media content missing from the store", "origin", origin, "media_id", mediaID, "sha256", m.SHA256)
		return nil, merr.NotFound("Unknown media")
	} else if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	if now.UnixMilli()-m.LastAccessTS >= accessGap.Milliseconds() {
		if err := s.cfg.Store.Touch(ctx, origin, mediaID, now.UnixMilli(), accessGap.Milliseconds()); err != nil {
			s.cfg.Log.Warn("recording a media access failed", "err", err)
		}
	}
	return &Content{Media: m, Object: obj}, nil
}

// waitLocal returns local media, waiting up to timeout for a pending
// upload.
func (s *Service) waitLocal(ctx context.Context, mediaID string, timeout time.Duration) (*mediastore.Media, error) {
	var deadline <-chan time.Time
	for {
		// Register before reading, so an upload completing in between
		// still wakes us.
		woken, cancel := s.wait(mediaID)
		m, err := s.cfg.Store.Get(ctx, s.cfg.ServerName, mediaID)
		if err != nil {
			cancel()
			return nil, storeErr(err)
		}
		if !m.Pending() {
			cancel()
			return m, nil
		}
		if m.ExpiresTS <= s.nowMS() {
			cancel()
			return nil, merr.NotFound("Unknown media")
		}
		if deadline == nil {
			t := time.NewTimer(timeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-woken:
			cancel()
		case <-deadline:
			cancel()
			return nil, notYetUploaded()
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		}
	}
}

func notYetUploaded() error {
	return merr.New(merr.ErrGatewayTimeout, merr.CodeNotYetUploaded, "Content has not yet been uploaded")
}

// remoteTooLarge is the spec's answer for remote media we will not proxy:
// 502 M_TOO_LARGE (client-server-api, content repository "Security
// considerations").
func (s *Service) remoteTooLarge() error {
	return merr.New(merr.ErrBadGateway, merr.CodeTooLarge,
		fmt.Sprintf("Remote media is larger than %d bytes", s.cfg.MaxUploadSize))
}
