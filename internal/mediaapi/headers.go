package mediaapi

import (
	"mime"
	"net/http"
	"strings"
)

// ContentSecurityPolicy is sent with all served media: the spec's
// recommended policy (client-server-api "Content repository") plus
// media-src 'self', as Synapse sends it, so that audio and video play.
const ContentSecurityPolicy = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; " +
	"style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

// inlineTypes may be served with Content-Disposition: inline: the list of
// client-server-api "Serving inline content". Everything else, HTML and
// SVG among it, is an attachment, so a browser never renders it as a page
// of our origin.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// Inline reports whether content of this type may be served inline.
func Inline(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && inlineTypes[strings.ToLower(mt)]
}

// SetContentHeaders sets the headers of served media: its type, a
// Content-Disposition computed from that type (inline only for the safe
// list) with the file name encoded per RFC 6266, the CSP, nosniff (so no
// browser second-guesses the type) and Cross-Origin-Resource-Policy
// (client-server-api "Content repository", added in v1.4). The router
// adds the CORS headers the spec asks for on every response.
func SetContentHeaders(h http.Header, contentType, fileName string) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", ContentDisposition(contentType, fileName))
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// Media under an ID never changes; the authenticated endpoints make
	// it private to the caller.
	h.Set("Cache-Control", "private, max-age=86400")
}

// ContentDisposition is the Content-Disposition header for content of this
// type and file name. Names in plain ASCII go in a quoted filename=; others
// in filename*=utf-8”… (RFC 6266 with RFC 8187's encoding).
func ContentDisposition(contentType, fileName string) string {
	kind := "attachment"
	if Inline(contentType) {
		kind = "inline"
	}
	if fileName == "" {
		return kind
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": fileName}); v != "" {
		return v
	}
	return kind
}
