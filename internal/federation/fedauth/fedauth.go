// Package fedauth authenticates inbound federation requests: it checks the
// X-Matrix Authorization header (server-server API, "Request
// Authentication") against the origin's keys from the key ring, the
// destination against our name and the origin against
// federation_domain_whitelist, and hands the verified origin and the body
// to the handler.
package fedauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/myelin-chat/myelin/internal/federation/xmatrix"
	"github.com/myelin-chat/myelin/internal/httpapi"
	"github.com/myelin-chat/myelin/internal/signing"
)

// DefaultMaxBody bounds request bodies. The largest ordinary federation
// request is a /send transaction (at most 50 PDUs of at most 64 KiB and
// 100 EDUs), a few MiB at worst.
const DefaultMaxBody = 8 << 20

// KeySource returns the current key a server signs requests with
// (keys.KeyRing.RequestKey), fetching it if needed.
type KeySource interface {
	RequestKey(ctx context.Context, server string, keyID signing.KeyID) (ed25519.PublicKey, error)
}

// Config configures an Authenticator.
type Config struct {
	// ServerName is our name: the destination requests must be for.
	ServerName string
	Keys       KeySource
	// DomainWhitelist is federation_domain_whitelist: nil admits every
	// origin, a non-nil list only those named (an empty list none).
	DomainWhitelist []string
	// MaxBody bounds request bodies (default DefaultMaxBody).
	MaxBody int64
	// OnOrigin, when set, is called after each successful authentication,
	// e.g. to tell the federation sender the origin is up again.
	OnOrigin func(ctx context.Context, origin string)
}

// Authenticator checks X-Matrix signatures. It is safe for concurrent use.
type Authenticator struct {
	cfg       Config
	whitelist map[string]bool
}

// New returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.ServerName == "" || cfg.Keys == nil {
		return nil, errors.New("fedauth: ServerName and Keys are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	a := &Authenticator{cfg: cfg}
	if cfg.DomainWhitelist != nil {
		a.whitelist = make(map[string]bool, len(cfg.DomainWhitelist))
		for _, d := range cfg.DomainWhitelist {
			a.whitelist[d] = true
		}
	}
	return a, nil
}

// Allowed reports whether federation with server is permitted by
// federation_domain_whitelist. Our own name is always allowed.
func (a *Authenticator) Allowed(server string) bool {
	return a.whitelist == nil || a.whitelist[server] || server == a.cfg.ServerName
}

type ctxKey int

const (
	originKey ctxKey = iota
	bodyKey
)

// Origin returns the authenticated origin server of a request that passed
// RequireServerAuth, or "".
func Origin(ctx context.Context) string {
	s, _ := ctx.Value(originKey).(string)
	return s
}

// OriginOf is Origin(r.Context()), in the shape federationapi.API.Origin
// takes.
func OriginOf(r *http.Request) string { return Origin(r.Context()) }

// Body returns the request body RequireServerAuth read (nil when empty).
// r.Body is also reset to it, so handlers may use either.
func Body(ctx context.Context) []byte {
	b, _ := ctx.Value(bodyKey).([]byte)
	return b
}

// Handler is an http handler that receives the authenticated origin.
type Handler func(w http.ResponseWriter, r *http.Request, origin string)

// RequireServerAuth runs h only for requests carrying a valid X-Matrix
// signature from an allowed origin. It reads the body once (bounded by
// MaxBody: 413 M_TOO_LARGE beyond), and puts the origin and body in the
// request context (Origin, Body). Failures are answered here:
//
//   - 401 M_UNAUTHORIZED: no X-Matrix header, a malformed one, a
//     destination that is not us, an origin key we cannot obtain, or a
//     signature that does not verify;
//   - 403 M_FORBIDDEN: an origin federation_domain_whitelist excludes;
//   - 400 M_NOT_JSON: a body that is not JSON, so cannot have been signed.
func (a *Authenticator) RequireServerAuth(h http.Handler) http.Handler {
	return a.Require(func(w http.ResponseWriter, r *http.Request, _ string) { h.ServeHTTP(w, r) })
}

// Require is RequireServerAuth for a Handler taking the origin.
func (a *Authenticator) Require(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The header is checked before the body is read, so requests that
		// cannot succeed do not get to make us buffer MaxBody bytes.
		auths, err := a.checkHeader(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		body, err := httpapi.ReadBody(r, a.cfg.MaxBody)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		origin, err := a.verify(r, auths, body)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		if a.cfg.OnOrigin != nil {
			a.cfg.OnOrigin(r.Context(), origin)
		}
		ctx := context.WithValue(r.Context(), originKey, origin)
		ctx = context.WithValue(ctx, bodyKey, body)
		r = r.WithContext(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h(w, r, origin)
	})
}

// Authenticate checks r's X-Matrix authorization over body (already read
// from r) and returns the origin. Errors are *httpapi.Error values ready
// for httpapi.WriteError, except a cancelled context.
func (a *Authenticator) Authenticate(r *http.Request, body []byte) (string, error) {
	auths, err := a.checkHeader(r)
	if err != nil {
		return "", err
	}
	return a.verify(r, auths, body)
}

// checkHeader parses the X-Matrix headers and applies the checks that need
// no body and no key: destination and federation_domain_whitelist.
func (a *Authenticator) checkHeader(r *http.Request) ([]*xmatrix.Authorization, error) {
	var auths []*xmatrix.Authorization
	for _, v := range r.Header.Values("Authorization") {
		auth, err := xmatrix.ParseAuthorization(v)
		if errors.Is(err, xmatrix.ErrNotXMatrix) {
			continue
		}
		if err != nil {
			return nil, httpapi.Unauthorized("Malformed X-Matrix Authorization header: " + trimPrefix(err))
		}
		auths = append(auths, auth)
	}
	if len(auths) == 0 {
		return nil, httpapi.Unauthorized("Missing X-Matrix Authorization header")
	}
	origin := auths[0].Origin
	for _, auth := range auths[1:] {
		if auth.Origin != origin {
			return nil, httpapi.Unauthorized("X-Matrix Authorization headers name different origins")
		}
	}
	for _, auth := range auths {
		// "If this property is included, but the value does not match the
		// receiving server's name, the receiving server must deny the
		// request with an HTTP status code 401 Unauthorized."
		if auth.Destination != "" && auth.Destination != a.cfg.ServerName {
			return nil, httpapi.Unauthorized(fmt.Sprintf("Request is for %q, not this server", auth.Destination))
		}
	}
	// Checked before any key lookup, so that excluded servers cannot make
	// us fetch anything.
	if !a.Allowed(origin) {
		return nil, httpapi.Forbidden("Federation denied with " + origin)
	}
	return auths, nil
}

// verify checks the signatures of auths over r and body.
func (a *Authenticator) verify(r *http.Request, auths []*xmatrix.Authorization, body []byte) (string, error) {
	origin := auths[0].Origin
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		// An absolute-form request target: the sender signed the path.
		uri = r.URL.RequestURI()
	}
	req := xmatrix.Request{Method: r.Method, URI: uri, Origin: origin, Destination: a.cfg.ServerName, Content: body}
	if _, err := req.SigningBytes(); err != nil {
		return "", httpapi.NotJSON("Request body is not JSON: " + trimPrefix(err))
	}
	var lastErr error
	for _, auth := range auths {
		pub, err := a.cfg.Keys.RequestKey(r.Context(), origin, auth.KeyID)
		if err != nil {
			if ctxErr := r.Context().Err(); ctxErr != nil {
				return "", ctxErr
			}
			lastErr = fmt.Errorf("no valid key %s for %s", auth.KeyID, origin)
			continue
		}
		if err := xmatrix.Verify(req, *auth, pub); err != nil {
			lastErr = errors.New("signature does not verify")
			continue
		}
		return origin, nil
	}
	return "", httpapi.Unauthorized("Invalid X-Matrix signature: " + lastErr.Error())
}

func trimPrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"xmatrix: ", "canonicaljson: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}
