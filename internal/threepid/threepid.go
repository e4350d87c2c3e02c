// Package threepid validates email addresses for accounts: the
// requestToken endpoints send a link with a one-time token, the link
// (served by Myelin at Synapse's paths) validates the session, and what
// the session validated (an address to add, a password reset, a
// registration) is then used once (client-server-api "Adding Account
// Administrative Contact Information" and the requestToken endpoints).
package threepid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/mail"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/threepidstore"
)

// Purpose is what a validation session is for; a session validated for
// one purpose cannot be used for another.
type Purpose string

// The purposes, each with its link path (Synapse's, so links in mail
// look the same to users and proxies as with Synapse).
const (
	PasswordReset Purpose = "password_reset"
	AddThreepid   Purpose = "add_threepid"
	Registration  Purpose = "registration"
)

// SubmitPaths are the paths of the validation links, relative to
// public_baseurl: Synapse serves the password reset link under
// /_synapse/client and the others under the unstable client prefix.
var SubmitPaths = map[Purpose]string{
	PasswordReset: "_synapse/client/password_reset/email/submit_token",
	AddThreepid:   "_matrix/client/unstable/add_threepid/email/submit_token",
	Registration:  "_matrix/client/unstable/registration/email/submit_token",
}

// MediumEmail is the only medium Myelin validates (it sends no SMS).
const MediumEmail = "email"

// validatedSessionLifetime bounds how long after its link was followed a
// validated session can still be used.
const validatedSessionLifetime = 24 * time.Hour

// Mailer sends one message.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Bindings answer who an address belongs to.
type Bindings interface {
	UserByThreepid(ctx context.Context, medium, address string) (string, error)
}

// Options configure a Service.
type Options struct {
	// PublicBaseURL is where the links point (public_baseurl, ending in /).
	PublicBaseURL string
	ServerName    string
	// AppName names the service in mail (email.app_name).
	AppName string
	// TokenLifetime is email.validation_token_lifetime.
	TokenLifetime time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Service runs validation sessions.
type Service struct {
	store    *threepidstore.Store
	mailer   Mailer
	bindings Bindings
	opts     Options
}

// New returns the service.
func New(store *threepidstore.Store, mailer Mailer, bindings Bindings, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, mailer: mailer, bindings: bindings, opts: opts}
}

// Request is the body of a requestToken call.
type Request struct {
	ClientSecret string
	Email        string
	SendAttempt  int64
	NextLink     string
}

// Bounds of request fields. client_secret's grammar and length are the
// spec's ("client_secret" in the requestToken bodies).
const (
	maxClientSecret = 255
	maxEmail        = 254 // RFC 5321's limit on a path
	maxNextLink     = 2048
)

// CheckRequest validates a request's fields and returns it with the
// address in canonical form.
func CheckRequest(req Request) (Request, error) {
	if req.ClientSecret == "" {
		return req, merr.MissingParam("client_secret is required")
	}
	if len(req.ClientSecret) > maxClientSecret || strings.IndexFunc(req.ClientSecret, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".=_-", r))
	}) >= 0 {
		return req, merr.InvalidParam("client_secret must be 1 to 255 characters of [0-9a-zA-Z.=_-]")
	}
	addr, err := CanonicalEmail(req.Email)
	if err != nil {
		return req, err
	}
	req.Email = addr
	if req.SendAttempt < 0 {
		return req, merr.InvalidParam("send_attempt must not be negative")
	}
	if req.NextLink != "" {
		u, err := url.Parse(req.NextLink)
		if len(req.NextLink) > maxNextLink || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return req, merr.InvalidParam("next_link must be an http or https URL")
		}
	}
	return req, nil
}

// CanonicalEmail lower-cases an address and checks its shape, as Synapse
// canonicalises addresses before comparing them (one "@", a local part
// and a domain, no spaces or controls).
func CanonicalEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if s == "" {
		return "", merr.MissingParam("email is required")
	}
	if len(s) > maxEmail || at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 ||
		strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' }) {
		return "", merr.InvalidParam("Unable to parse email address")
	}
	return s, nil
}

// RequestToken starts or continues the session of req for purpose and
// returns its ID. A mail with a new token goes out only for a new session
// or a send_attempt above the session's last one; a repeat returns the
// session without mail (the spec's "send_attempt" rule). The caller
// checks beforehand whether the address may be used for the purpose.
func (s *Service) RequestToken(ctx context.Context, purpose Purpose, req Request) (string, error) {
	sess, err := s.store.Find(ctx, string(purpose), MediumEmail, req.Email, req.ClientSecret)
	if err != nil {
		return "", err
	}
	if sess != nil && req.SendAttempt <= sess.LastSendAttempt {
		return sess.ID, nil
	}
	if sess == nil {
		sess = &threepidstore.Session{ID: NewSessionID(), Purpose: string(purpose), Medium: MediumEmail,
			Address: req.Email, ClientSecret: req.ClientSecret}
	}
	token := randomString(32)
	now := s.opts.Now()
	sess.LastSendAttempt, sess.NextLink = req.SendAttempt, req.NextLink
	sess.TokenHash, sess.TokenExpiresTS = hashToken(token), now.Add(s.opts.TokenLifetime).UnixMilli()
	// As Synapse: mail first, then store, so that a failed send leaves
	// nothing and the client's retry with the same send_attempt sends.
	if err := s.mailer.Send(ctx, s.message(purpose, req.Email, s.link(purpose, sess.ID, req.ClientSecret, token))); err != nil {
		s.opts.Logger.Warn("sending a validation mail failed", "purpose", purpose, "err", err)
		return "", merr.New(merr.ErrUnavailable, merr.CodeUnknown, "Unable to send email; try again later")
	}
	saved, err := s.store.Save(ctx, *sess, now.UnixMilli())
	if err != nil {
		return "", err
	}
	return saved.ID, nil
}

// link is the validation link of a session and token.
func (s *Service) link(purpose Purpose, sid, clientSecret, token string) string {
	q := url.Values{"token": {token}, "client_secret": {clientSecret}, "sid": {sid}}
	return s.opts.PublicBaseURL + SubmitPaths[purpose] + "?" + q.Encode()
}

// Submit errors, as the validation page tells them.
var (
	ErrTokenInvalid = merr.New(merr.ErrBadRequest, merr.CodeThreepidAuthFailed, "Validation token not found or has expired")
	ErrTokenExpired = merr.New(merr.ErrBadRequest, merr.CodeThreepidAuthFailed, "Validation token has expired; request a new one")
)

// SubmitToken validates the session of a link. It returns the session's
// next_link ("" for none).
func (s *Service) SubmitToken(ctx context.Context, purpose Purpose, sid, clientSecret, token string) (string, error) {
	if sid == "" || clientSecret == "" || token == "" || len(token) > 256 || len(sid) > 256 || len(clientSecret) > maxClientSecret {
		return "", merr.MissingParam("token, client_secret and sid are required")
	}
	sess, err := s.store.Validate(ctx, sid, clientSecret, hashToken(token), s.opts.Now().UnixMilli())
	switch {
	case errors.Is(err, threepidstore.ErrExpired):
		return "", ErrTokenExpired
	case errors.Is(err, threepidstore.ErrNoSession), errors.Is(err, threepidstore.ErrBadToken):
		return "", ErrTokenInvalid
	case err != nil:
		return "", err
	}
	if sess.Purpose != string(purpose) {
		// The token was spent by following a link of another purpose's
		// path: the session is validated anyway (the user proved they
		// read the mail), which is harmless, but say so.
		s.opts.Logger.Info("validation link followed at another purpose's path", "purpose", purpose, "session_purpose", sess.Purpose)
	}
	return sess.NextLink, nil
}

// Validated is what a consumed session validated.
type Validated struct {
	Address     string
	ValidatedTS int64
}

// Consume returns the address a validated session of purpose validated
// and ends the session: it authorises one operation. M_THREEPID_AUTH_FAILED
// when there is no such validated session.
func (s *Service) Consume(ctx context.Context, purpose Purpose, sid, clientSecret string) (Validated, error) {
	if sid == "" || clientSecret == "" {
		return Validated{}, merr.MissingParam("sid and client_secret are required")
	}
	notBefore := s.opts.Now().Add(-validatedSessionLifetime).UnixMilli()
	sess, err := s.store.Consume(ctx, sid, clientSecret, string(purpose), notBefore)
	switch {
	case errors.Is(err, threepidstore.ErrNoSession), errors.Is(err, threepidstore.ErrNotValidated):
		return Validated{}, merr.New(merr.ErrBadRequest, merr.CodeThreepidAuthFailed, "No validated 3pid session found")
	case err != nil:
		return Validated{}, err
	}
	return Validated{Address: sess.Address, ValidatedTS: sess.ValidatedTS}, nil
}

// Owner returns the user an address is bound to, or "".
func (s *Service) Owner(ctx context.Context, address string) (string, error) {
	return s.bindings.UserByThreepid(ctx, MediumEmail, address)
}

// NewSessionID returns a new, unguessable session ID.
func NewSessionID() string { return randomString(18) }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the store keeps of a token: its SHA-256. Tokens are
// 256 random bits, so no salt or slow hash is needed.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// message is the mail of a purpose with its link.
func (s *Service) message(purpose Purpose, to, link string) mail.Message {
	app, server := s.opts.AppName, s.opts.ServerName
	var subject, intro, action string
	switch purpose {
	case PasswordReset:
		subject = fmt.Sprintf("[%s] Password reset", server)
		intro = fmt.Sprintf("A password reset was requested for your %s account on %s.", app, server)
		action = "To reset your password, open this link and confirm:"
	default:
		subject = fmt.Sprintf("[%s] Validate your email", server)
		intro = fmt.Sprintf("You asked to use this email address with your %s account on %s.", app, server)
		action = "To validate the address, open this link:"
	}
	ignore := "If this was not you, ignore this mail: nothing changes unless the link is opened."
	lifetime := "The link works once, for " + humanDuration(s.opts.TokenLifetime) + "."
	text := intro + "\n\n" + action + "\n\n" + link + "\n\n" + lifetime + "\n" + ignore + "\n"
	h := html.EscapeString
	htmlBody := "<!DOCTYPE html><html><body><p>" + h(intro) + "</p><p>" + h(action) + "</p><p><a href=\"" + h(link) + "\">" +
		h(link) + "</a></p><p>" + h(lifetime) + "<br>" + h(ignore) + "</p></body></html>"
	return mail.Message{To: to, Subject: subject, Text: text, HTML: htmlBody}
}

// humanDuration writes a token lifetime for people: "1 hour", "15 minutes".
func humanDuration(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d.Round(time.Second)/time.Second), "second")
}
