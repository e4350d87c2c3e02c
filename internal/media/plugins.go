package media

import (
	"context"
	"encoding/json"
	"io"
)

// ThumbnailSpec is a thumbnail request (client-server-api "Thumbnails").
type ThumbnailSpec struct {
	// Width and Height are the smallest size the client wants (> 0).
	Width, Height int
	// Method is "scale" or "crop".
	Method string
	// Animated is the request's animated parameter (false when absent).
	Animated bool
}

// Thumbnail is a thumbnail ready to serve. The caller closes Body.
type Thumbnail struct {
	ContentType string
	Body        io.ReadSeekCloser
}

// Thumbnailer makes a thumbnail of content the service holds. src is open
// (src.Object); the thumbnailer must not close it. Errors carry their
// Matrix meaning (internal/merr): 413 M_TOO_LARGE for an image too large to
// thumbnail, 400 for content that is not an image it can read.
type Thumbnailer interface {
	Thumbnail(ctx context.Context, src *Content, spec ThumbnailSpec) (*Thumbnail, error)
}

// ThumbnailForgetter is implemented by a Thumbnailer that stores what it
// makes: Delete (and so retention and the admin API) calls it, so that a
// deleted item's thumbnails do not outlive it on disk.
type ThumbnailForgetter interface {
	// ForgetThumbnails deletes the records of one item's thumbnails and
	// returns the blob keys no other thumbnail uses; Delete removes those
	// no media uses either.
	ForgetThumbnails(ctx context.Context, origin, mediaID string) ([]string, error)
}

// Previewer answers GET /preview_url for userID: the Open Graph object of
// url as of ts (ms; 0 means now).
type Previewer interface {
	Preview(ctx context.Context, userID, url string, ts int64) (json.RawMessage, error)
}
