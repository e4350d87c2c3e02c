package mediaapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/media"
)

// maxThumbnailSide bounds the width and height a client may ask for.
const maxThumbnailSide = 10000

// thumbnailSpec reads width, height, method and animated
// (authed-content-repo.yaml, /thumbnail).
func thumbnailSpec(r *http.Request) (media.ThumbnailSpec, error) {
	q := r.URL.Query()
	side := func(name string) (int, error) {
		v := q.Get(name)
		if v == "" {
			return 0, httpapi.MissingParam(name + " is required")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxThumbnailSide {
			return 0, httpapi.InvalidParam(name + " must be a positive integer of at most " + strconv.Itoa(maxThumbnailSide))
		}
		return n, nil
	}
	var spec media.ThumbnailSpec
	var err error
	if spec.Width, err = side("width"); err != nil {
		return spec, err
	}
	if spec.Height, err = side("height"); err != nil {
		return spec, err
	}
	switch spec.Method = q.Get("method"); spec.Method {
	case "":
		spec.Method = "scale"
	case "scale", "crop":
	default:
		return spec, httpapi.InvalidParam("method must be scale or crop")
	}
	if v := q.Get("animated"); v != "" {
		if spec.Animated, err = strconv.ParseBool(v); err != nil {
			return spec, httpapi.InvalidParam("animated must be true or false")
		}
	}
	return spec, nil
}

// openThumbnail opens the source and asks the Thumbnailer.
func (a *API) openThumbnail(r *http.Request, origin, mediaID string, opts media.OpenOptions) (*media.Thumbnail, error) {
	spec, err := thumbnailSpec(r)
	if err != nil {
		return nil, err
	}
	c, err := a.Media.Open(r.Context(), origin, mediaID, opts)
	if err != nil {
		return nil, err
	}
	defer c.Object.Close()
	return a.Media.Thumbnailer().Thumbnail(r.Context(), c, spec)
}

// thumbnail is GET /_matrix/client/v1/media/thumbnail (and the deprecated
// /_matrix/media/v3/thumbnail, frozen like its download).
func (a *API) thumbnail(w http.ResponseWriter, r *http.Request, unauthenticated bool) {
	opts, err := openOptions(r, unauthenticated)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	th, err := a.openThumbnail(r, r.PathValue("serverName"), r.PathValue("mediaId"), opts)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	defer th.Body.Close()
	SetContentHeaders(w.Header(), th.ContentType, "")
	http.ServeContent(w, r, "", time.Time{}, th.Body)
}

// federationThumbnail is GET /_matrix/federation/v1/media/thumbnail.
func (a *API) federationThumbnail(w http.ResponseWriter, r *http.Request) {
	opts, err := openOptions(r, false)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	opts.LocalOnly = true
	th, err := a.openThumbnail(r, a.Media.ServerName(), r.PathValue("mediaId"), opts)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	defer th.Body.Close()
	writeMultipart(w, th.ContentType, "", th.Body)
}

// previewURL is GET /_matrix/client/v1/media/preview_url.
func (a *API) previewURL(w http.ResponseWriter, r *http.Request, s *httpapi.Session) {
	q := r.URL.Query()
	u := q.Get("url")
	if u == "" {
		httpapi.WriteError(w, httpapi.MissingParam("url is required"))
		return
	}
	var ts int64
	if v := q.Get("ts"); v != "" {
		var err error
		if ts, err = strconv.ParseInt(v, 10, 64); err != nil || ts < 0 {
			httpapi.WriteError(w, httpapi.InvalidParam("ts must be a non-negative integer"))
			return
		}
	}
	og, err := a.Media.Previewer().Preview(r.Context(), s.UserID, u, ts)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(og)
}
