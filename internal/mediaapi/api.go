// Package mediaapi serves the content repository over HTTP: uploads
// (/_matrix/media/v3/upload, /_matrix/media/v1/create), authenticated
// downloads (/_matrix/client/v1/media/*), the deprecated unauthenticated
// ones (/_matrix/media/v3/download, frozen for new media) and the
// federation endpoint (/_matrix/federation/v1/media/download). Handlers
// are thin: they parse, call internal/media, and serve the content with
// the safe headers of headers.go.
package mediaapi

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/ratelimit"
)

// API holds the handlers' dependencies.
type API struct {
	Media  *media.Service
	Auth   httpapi.TokenResolver
	Limits *ratelimit.Limiter
	// BodyTimeout is the server's request_body_timeout. An upload may take
	// longer as a whole: each MiB that arrives gives it that long again
	// (see progressBody).
	BodyTimeout time.Duration
}

// Register adds the client-facing routes to rt. /thumbnail and
// /preview_url are added only when the service has a Thumbnailer or a
// Previewer (see internal/media's package documentation).
func (a *API) Register(rt *httpapi.Router) {
	auth := func(h httpapi.AuthHandler) http.Handler { return httpapi.RequireAuth(a.Auth, h) }
	// Guests may read media, as in Synapse; uploading needs an account.
	authGuests := func(h httpapi.AuthHandler) http.Handler { return httpapi.RequireAuthAllowGuests(a.Auth, h) }

	rt.Handle("POST /_matrix/media/v1/create", auth(a.create))
	const v1 = "/_matrix/client/v1/media"
	rt.Handle("GET "+v1+"/config", authGuests(a.config))
	rt.Handle("GET "+v1+"/download/{serverName}/{mediaId}", authGuests(a.authedDownload))
	rt.Handle("GET "+v1+"/download/{serverName}/{mediaId}/{fileName}", authGuests(a.authedDownload))
	if a.Media.Thumbnailer() != nil {
		rt.Handle("GET "+v1+"/thumbnail/{serverName}/{mediaId}", authGuests(func(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
			a.thumbnail(w, r, false)
		}))
	}
	if a.Media.Previewer() != nil {
		rt.Handle("GET "+v1+"/preview_url", auth(a.previewURL))
	}
	// The deprecated /_matrix/media/v3 endpoints, and the same under r0,
	// the prefix before v1.1 that clients and bridges still use and
	// Synapse still serves: the same handlers, frozen alike.
	for _, prefix := range []string{"/_matrix/media/v3", "/_matrix/media/r0"} {
		a.registerLegacy(rt, prefix, auth, authGuests)
	}
	a.registerAdmin(rt)
}

// registerLegacy adds the deprecated media endpoints under prefix
// (content-repo.yaml): uploads and /config need a token; downloads and
// thumbnails never did, and are frozen for new media.
func (a *API) registerLegacy(rt *httpapi.Router, prefix string, auth, authGuests func(httpapi.AuthHandler) http.Handler) {
	rt.Handle("POST "+prefix+"/upload", auth(a.upload))
	rt.Handle("PUT "+prefix+"/upload/{serverName}/{mediaId}", auth(a.uploadTo))
	rt.Handle("GET "+prefix+"/config", authGuests(a.config))
	rt.HandleFunc("GET "+prefix+"/download/{serverName}/{mediaId}", a.legacyDownload)
	rt.HandleFunc("GET "+prefix+"/download/{serverName}/{mediaId}/{fileName}", a.legacyDownload)
	if a.Media.Thumbnailer() != nil {
		rt.HandleFunc("GET "+prefix+"/thumbnail/{serverName}/{mediaId}", func(w http.ResponseWriter, r *http.Request) {
			a.thumbnail(w, r, true)
		})
	}
	if a.Media.Previewer() != nil {
		rt.Handle("GET "+prefix+"/preview_url", auth(a.previewURL))
	}
}

// RegisterFederation adds the federation routes to rt; protect wraps them
// with X-Matrix authentication (and the federation rate limit).
func (a *API) RegisterFederation(rt *httpapi.Router, protect func(http.Handler) http.Handler) {
	rt.Handle("GET /_matrix/federation/v1/media/download/{mediaId}", protect(http.HandlerFunc(a.federationDownload)))
	if a.Media.Thumbnailer() != nil {
		rt.Handle("GET /_matrix/federation/v1/media/thumbnail/{mediaId}", protect(http.HandlerFunc(a.federationThumbnail)))
	}
}

func (a *API) config(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"m.upload.size": a.Media.MaxUploadSize()})
}

// upload is POST /_matrix/media/v3/upload.
func (a *API) upload(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !a.fits(w, r) || !mayUpload(w, s) {
		return
	}
	id, err := a.Media.Upload(r.Context(), s.UserID, r.Header.Get("Content-Type"), r.URL.Query().Get("filename"), a.body(w, r))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"content_uri": media.MXC(a.Media.ServerName(), id)})
}

// mayUpload refuses uploads by a suspended user (clientapi/suspension.go
// says why).
func mayUpload(w http.ResponseWriter, s *httpapi.Session) bool {
	if err := httpapi.RefuseSuspended(s, "Uploading media"); err != nil {
		httpapi.WriteError(w, err)
		return false
	}
	return true
}

// fits refuses a body whose declared length is over the limit before any
// of it is read; bodies without a length are counted as they stream.
func (a *API) fits(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > a.Media.MaxUploadSize() {
		httpapi.WriteError(w, httpapi.TooLarge(fmt.Sprintf("Cannot upload files larger than %d bytes", a.Media.MaxUploadSize())))
		return false
	}
	return true
}

// progressChunk is how much of an upload must arrive to extend its
// deadline by BodyTimeout.
const progressChunk = 1 << 20

// body is the upload's body under a deadline that moves while it makes
// progress: request_body_timeout alone would cut off a 50 MB file on a
// slow link, while a client that stops sending is still dropped.
func (a *API) body(w http.ResponseWriter, r *http.Request) io.Reader {
	if a.BodyTimeout <= 0 {
		return r.Body
	}
	return &progressBody{r: r.Body, rc: http.NewResponseController(w), d: a.BodyTimeout}
}

type progressBody struct {
	r     io.Reader
	rc    *http.ResponseController
	d     time.Duration
	since int
}

func (p *progressBody) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if p.since += n; p.since >= progressChunk && err == nil {
		p.since = 0
		_ = p.rc.SetReadDeadline(time.Now().Add(p.d))
	}
	return n, err
}

// create is POST /_matrix/media/v1/create (rc_media_create per user).
func (a *API) create(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !mayUpload(w, s) {
		return
	}
	if a.Limits != nil && !s.IsAdmin {
		if err := a.Limits.TakeFor(r.Context(), s.UserID, ratelimit.Cost{Action: ratelimit.MediaCreate, Key: s.UserID}); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	id, expires, err := a.Media.Create(r.Context(), s.UserID)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"content_uri": media.MXC(a.Media.ServerName(), id), "unused_expires_at": expires})
}

// uploadTo is PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (a *API) uploadTo(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	if !a.fits(w, r) || !mayUpload(w, s) {
		return
	}
	err := a.Media.UploadTo(r.Context(), s.UserID, r.PathValue("serverName"), r.PathValue("mediaId"),
		r.Header.Get("Content-Type"), r.URL.Query().Get("filename"), a.body(w, r))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{})
}

func (a *API) authedDownload(w http.ResponseWriter, r *http.Request, _ *httpapi.Session) {
	a.download(w, r, false)
}

func (a *API) legacyDownload(w http.ResponseWriter, r *http.Request) { a.download(w, r, true) }

// openOptions reads timeout_ms and allow_remote.
func openOptions(r *http.Request, unauthenticated bool) (media.OpenOptions, error) {
	opts := media.OpenOptions{AllowRemote: true, Unauthenticated: unauthenticated}
	q := r.URL.Query()
	if v := q.Get("timeout_ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return opts, httpapi.InvalidParam("timeout_ms must be a non-negative integer")
		}
		opts.Timeout = time.Duration(min(ms, media.MaxTimeout.Milliseconds())) * time.Millisecond
		if ms == 0 {
			// Zero means "do not wait"; Open reads 0 as the default.
			opts.Timeout = time.Millisecond
		}
	}
	if v := q.Get("allow_remote"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opts, httpapi.InvalidParam("allow_remote must be true or false")
		}
		opts.AllowRemote = b
	}
	return opts, nil
}

// download serves media with Range support (http.ServeContent on the
// blob): the {fileName} path segment, when given, names the file.
func (a *API) download(w http.ResponseWriter, r *http.Request, unauthenticated bool) {
	opts, err := openOptions(r, unauthenticated)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	c, err := a.Media.Open(r.Context(), r.PathValue("serverName"), r.PathValue("mediaId"), opts)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	defer c.Object.Close()
	name := c.Media.UploadName
	if fn := r.PathValue("fileName"); fn != "" {
		name = media.CleanUploadName(fn)
	}
	SetContentHeaders(w.Header(), c.Media.ContentType, name)
	http.ServeContent(w, r, "", time.UnixMilli(c.Media.UploadedTS), c.Object)
}

// federationDownload is GET /_matrix/federation/v1/media/download/{mediaId}
// (server-server-api "Content Repository"): our own media only, as a
// multipart/mixed answer of an empty JSON metadata part and the content.
func (a *API) federationDownload(w http.ResponseWriter, r *http.Request) {
	opts, err := openOptions(r, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	opts.LocalOnly = true
	c, err := a.Media.Open(r.Context(), a.Media.ServerName(), r.PathValue("mediaId"), opts)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	defer c.Object.Close()
	writeMultipart(w, c.Media.ContentType, c.Media.UploadName, c.Object)
}

// writeMultipart writes the two-part answer of the federation media
// endpoints. Once the first byte is out, a failure can only cut the
// answer short, which the other server sees as a broken multipart body.
func writeMultipart(w http.ResponseWriter, contentType, fileName string, body io.Reader) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusOK)
	meta, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return
	}
	if _, err := io.WriteString(meta, "{}"); err != nil {
		return
	}
	h := http.Header{}
	SetContentHeaders(h, contentType, fileName)
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {h.Get("Content-Type")}, "Content-Disposition": {h.Get("Content-Disposition")}})
	if err != nil {
		return
	}
	if _, err := io.Copy(part, body); err != nil {
		return
	}
	_ = mw.Close()
}
