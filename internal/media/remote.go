package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/fedclient"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
)

// Federation fetches media from the server that holds it.
type Federation interface {
	// Download fetches mediaID from origin. The caller reads at most its
	// own limit from Body and closes it.
	Download(ctx context.Context, origin, mediaID string, timeout time.Duration) (*RemoteContent, error)
}

// RemoteContent is media as another server sent it.
type RemoteContent struct {
	ContentType string
	UploadName  string
	Body        io.ReadCloser
}

// fetch is one remote fetch in flight; every request for the item waits
// on done and then reads the stored row.
type fetch struct {
	done    chan struct{}
	waiters int // requests waiting, under Service.mu
	m       *mediastore.Media
	err     error
}

// remote returns another server's media, fetching and caching it; while
// one fetch of an item runs, every other request for it waits for that
// one (each up to its own context) instead of starting another.
func (s *Service) remote(ctx context.Context, origin, mediaID string, timeout time.Duration, opts OpenOptions) (*mediastore.Media, error) {
	if !opts.AllowRemote || s.cfg.Federation == nil || (opts.Unauthenticated && s.cfg.Authenticated) {
		return nil, merr.NotFound("Unknown media")
	}
	key := origin + "/" + mediaID
	s.mu.Lock()
	f, running := s.fetches[key]
	if !running {
		f = &fetch{done: make(chan struct{})}
		s.fetches[key] = f
		// The fetch outlives the request that started it: the others
		// waiting for it must not fail because the first client left.
		go s.runFetch(key, f, origin, mediaID, timeout)
	}
	f.waiters++
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.m, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitingFor is how many requests wait for the fetch of an item now.
func (s *Service) waitingFor(origin, mediaID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fetches[origin+"/"+mediaID]; f != nil {
		return f.waiters
	}
	return 0
}

func (s *Service) runFetch(key string, f *fetch, origin, mediaID string, timeout time.Duration) {
	defer func() {
		s.mu.Lock()
		delete(s.fetches, key)
		s.mu.Unlock()
		close(f.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), RemoteFetchTimeout)
	defer cancel()
	f.m, f.err = s.fetchRemote(ctx, origin, mediaID, timeout)
	if f.err != nil {
		s.cfg.Log.Warn("fetching remote media failed", "origin", origin, "media_id", mediaID, "err", f.err)
	}
}

func (s *Service) fetchRemote(ctx context.Context, origin, mediaID string, timeout time.Duration) (*mediastore.Media, error) {
	rc, err := s.cfg.Federation.Download(ctx, origin, mediaID, timeout)
	if err != nil {
		return nil, err
	}
	defer rc.Body.Close()
	var stored *mediastore.Media
	_, err = s.cfg.Keeper.Keep(ctx, rc.Body, s.cfg.MaxUploadSize, func(tx *sql.Tx, info blob.Info) error {
		now := s.nowMS()
		m := &mediastore.Media{Origin: origin, MediaID: mediaID, ContentType: CleanContentType(rc.ContentType),
			UploadName: CleanUploadName(rc.UploadName), Size: info.Size, SHA256: info.Key,
			CreatedTS: now, UploadedTS: now, LastAccessTS: now,
			// The spec's freeze: remote media cached now is "new".
			Authenticated: s.cfg.Authenticated}
		var err error
		stored, err = s.cfg.Store.InsertCached(ctx, tx, m)
		return err
	})
	if errors.Is(err, blob.ErrTooLarge) {
		return nil, s.remoteTooLarge()
	} else if err != nil {
		return nil, remoteErr(origin, err)
	}
	return stored, nil
}

// remoteErr maps a failure to fetch remote media to what our client sees:
// the origin's own 404 and 504 M_NOT_YET_UPLOADED pass through, anything
// else is 502.
func remoteErr(origin string, err error) error {
	if _, ok := merr.As(err); ok {
		return err
	}
	var fe *fedclient.Error
	if errors.As(err, &fe) {
		switch {
		case fe.Status == http.StatusNotFound:
			return merr.NotFound("Unknown media")
		case fe.Errcode == merr.CodeNotYetUploaded:
			return notYetUploaded()
		case fe.Errcode == merr.CodeTooLarge:
			return merr.New(merr.ErrBadGateway, merr.CodeTooLarge, "Remote media is too large")
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return merr.New(merr.ErrGatewayTimeout, merr.CodeUnknown, "Timed out fetching media from "+origin)
	}
	// The cause stays out of the answer: it can name addresses the IP
	// guard refused, or what the origin's network said. It is logged
	// (runFetch) instead.
	return &fetchError{public: merr.New(merr.ErrBadGateway, merr.CodeUnknown, "Failed to fetch media from "+origin), cause: err}
}

// fetchError is a failed fetch of remote media: the client is answered
// with public, the log is told cause too.
type fetchError struct {
	public *merr.Error
	cause  error
}

func (e *fetchError) Error() string   { return e.public.Error() + ": " + e.cause.Error() }
func (e *fetchError) Unwrap() []error { return []error{e.public, e.cause} }

// FedClient is what FederationDownloader needs of fedclient.Client.
type FedClient interface {
	Stream(ctx context.Context, req fedclient.Request) (*fedclient.StreamResponse, error)
	FetchURL(ctx context.Context, rawURL string) (*fedclient.StreamResponse, error)
}

// FederationDownloader implements Federation with the authenticated
// federation endpoint (server-server-api "Content Repository"), falling
// back to the deprecated /_matrix/media/v3/download with allow_remote=false
// when the origin answers 404 M_UNRECOGNIZED, as the spec requires.
type FederationDownloader struct {
	Client FedClient
	// MaxSize is the largest content accepted (max_upload_size); the
	// caller also bounds what it reads of the content.
	MaxSize int64
}

// maxMetadataPart bounds the JSON metadata part of a multipart answer.
const maxMetadataPart = 64 << 10

// Download implements Federation.
func (d *FederationDownloader) Download(ctx context.Context, origin, mediaID string, timeout time.Duration) (*RemoteContent, error) {
	q := "?timeout_ms=" + strconv.FormatInt(timeout.Milliseconds(), 10)
	resp, err := d.Client.Stream(ctx, fedclient.Request{Method: http.MethodGet, Destination: origin,
		Path: "/_matrix/federation/v1/media/download/" + url.PathEscape(mediaID) + q})
	var fe *fedclient.Error
	if errors.As(err, &fe) && fe.Status == http.StatusNotFound && fe.Errcode == merr.CodeUnrecognized {
		resp, err = d.Client.Stream(ctx, fedclient.Request{Method: http.MethodGet, Destination: origin,
			Path: "/_matrix/media/v3/download/" + url.PathEscape(origin) + "/" + url.PathEscape(mediaID) +
				q + "&allow_remote=false"})
		if err != nil {
			return nil, remoteErr(origin, err)
		}
		return plainContent(resp), nil
	}
	if err != nil {
		return nil, remoteErr(origin, err)
	}
	// However the origin splits its answer, it may not send more than
	// the content limit plus a little for the metadata part and headers:
	// the multipart reader skips what a part leaves unread, unbounded.
	resp.Body = &partBody{Reader: io.LimitReader(resp.Body, d.MaxSize+maxMetadataPart+64<<10), close: resp.Body.Close}
	rc, err := d.multipart(ctx, origin, resp)
	if err != nil {
		resp.Body.Close()
		return nil, remoteErr(origin, err)
	}
	return rc, nil
}

func plainContent(resp *fedclient.StreamResponse) *RemoteContent {
	return &RemoteContent{ContentType: resp.Header.Get("Content-Type"),
		UploadName: FilenameFromDisposition(resp.Header.Get("Content-Disposition")), Body: resp.Body}
}

// multipart reads the answer of /federation/v1/media/download: a JSON
// metadata part, then the content or a Location to fetch it from (through
// the IP guard, like every outbound request).
func (d *FederationDownloader) multipart(ctx context.Context, origin string, resp *fedclient.StreamResponse) (*RemoteContent, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: %s answered a media download with %q, not multipart/mixed",
			fedclient.ErrBadResponse, origin, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the metadata part: %w", fedclient.ErrBadResponse, origin, err)
	}
	// Its content is an empty object today; nothing in it is used.
	if _, err := io.Copy(io.Discard, io.LimitReader(meta, maxMetadataPart)); err != nil {
		return nil, err
	}
	part, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading the content part: %w", fedclient.ErrBadResponse, origin, err)
	}
	if loc := part.Header.Get("Location"); loc != "" {
		resp.Body.Close()
		r, err := d.Client.FetchURL(ctx, loc)
		if err != nil {
			return nil, err
		}
		return plainContent(r), nil
	}
	return &RemoteContent{ContentType: part.Header.Get("Content-Type"),
		UploadName: FilenameFromDisposition(part.Header.Get("Content-Disposition")),
		Body:       &partBody{Reader: part, close: resp.Body.Close}}, nil
}

type partBody struct {
	io.Reader
	close func() error
}

func (p *partBody) Close() error { return p.close() }

// FilenameFromDisposition returns the file name a Content-Disposition
// header gives (filename* preferred, which mime decodes), or "".
func FilenameFromDisposition(v string) string {
	if v == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return params["filename"]
}
