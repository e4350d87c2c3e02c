package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Token prefixes make leaked tokens easy to recognise for secret scanners
// and in support requests; the rest is 256 random bits.
const (
	accessTokenPrefix  = "mya_"
	refreshTokenPrefix = "myr_"
)

// lastSeenInterval is how often a token's use is written back (last-used
// time, device last seen). Writing on every request would make each one a
// database write.
const lastSeenInterval = time.Minute

// newToken returns a fresh random token and the hash that is stored.
func newToken(prefix string) (token string, hash []byte) {
	var b [32]byte
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

// hashToken is what the database holds instead of a token. A plain SHA-256
// suffices: tokens are 256-bit random values, not guessable passwords.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// deviceIDAlphabet and deviceIDLength follow Synapse's device IDs: ten
// upper-case letters.
const (
	deviceIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	deviceIDLength   = 10
)

func newDeviceID() string {
	return randomString(deviceIDAlphabet, deviceIDLength)
}

// randomString draws n characters uniformly from alphabet.
func randomString(alphabet string, n int) string {
	out := make([]byte, n)
	limit := byte(256 - 256%len(alphabet))
	var buf [64]byte
	for i := 0; i < n; {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			if c >= limit {
				continue // rejection sampling keeps the draw uniform
			}
			out[i] = alphabet[int(c)%len(alphabet)]
			i++
			if i == n {
				break
			}
		}
	}
	return string(out)
}

// tokenPlan is the lifetimes of a new login's tokens.
type tokenPlan struct {
	accessExpiresTS  int64
	refresh          bool
	refreshExpiresTS int64
	sessionExpiresTS int64
	expiresIn        time.Duration
}

// planTokens decides the lifetimes for a login at now, following Synapse's
// settings: with refresh tokens (if the client supports them and they are
// enabled) the access token lives refreshable_access_token_lifetime;
// otherwise nonrefreshable_access_token_lifetime (0: forever). Both are
// capped by session_lifetime.
func (s *Service) planTokens(now time.Time, wantRefresh bool) tokenPlan {
	var p tokenPlan
	nowMS := now.UnixMilli()
	if s.opts.SessionLifetime > 0 {
		p.sessionExpiresTS = nowMS + s.opts.SessionLifetime.Milliseconds()
	}
	lifetime := s.opts.NonrefreshableAccessTokenLifetime
	if wantRefresh && s.opts.RefreshableAccessTokenLifetime > 0 {
		p.refresh = true
		lifetime = s.opts.RefreshableAccessTokenLifetime
		if s.opts.RefreshTokenLifetime > 0 {
			p.refreshExpiresTS = capTS(nowMS+s.opts.RefreshTokenLifetime.Milliseconds(), p.sessionExpiresTS)
		} else {
			p.refreshExpiresTS = p.sessionExpiresTS
		}
	}
	if lifetime > 0 {
		p.accessExpiresTS = nowMS + lifetime.Milliseconds()
	}
	p.accessExpiresTS = capTS(p.accessExpiresTS, p.sessionExpiresTS)
	if p.accessExpiresTS != 0 {
		p.expiresIn = time.Duration(p.accessExpiresTS-nowMS) * time.Millisecond
	}
	return p
}

// capTS returns ts bounded by limit, where 0 means "no expiry" for both.
func capTS(ts, limit int64) int64 {
	if limit != 0 && (ts == 0 || ts > limit) {
		return limit
	}
	return ts
}

// LoginResult is what /login, /register and shared-secret registration
// return. AccessToken is "" when login was inhibited.
type LoginResult struct {
	UserID       string
	DeviceID     string
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime; 0 means it does not expire.
	ExpiresIn time.Duration
}

// MaxDeviceIDLength bounds client-chosen device IDs, like other Matrix
// identifiers (the spec sets no limit).
const MaxDeviceIDLength = 255

// checkDeviceID validates a device ID a client chose ("" lets the server
// pick one).
func checkDeviceID(id string) error {
	if len(id) > MaxDeviceIDLength || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return merr.InvalidParam("device_id must be at most 255 bytes of printable text")
	}
	return nil
}

// initialDeviceName bounds a client-supplied device name. It is cut rather
// than refused, since clients build it from user agents they do not control.
func initialDeviceName(name string) string {
	if len(name) <= MaxDeviceDisplayNameLength {
		return name
	}
	cut := MaxDeviceDisplayNameLength
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}

// newSession prepares the storage record and the result of a login.
func (s *Service) newSession(userID, deviceID, deviceName string, wantRefresh bool, ip, userAgent string) (accounts.NewSession, *LoginResult) {
	now := s.now()
	plan := s.planTokens(now, wantRefresh)
	replace := deviceID != ""
	if deviceID == "" {
		deviceID = newDeviceID()
	}
	access, accessHash := newToken(accessTokenPrefix)
	ns := accounts.NewSession{
		UserID: userID, DeviceID: deviceID, DeviceDisplayName: initialDeviceName(deviceName),
		ReplaceDeviceTokens: replace, IP: ip, UserAgent: userAgent, NowTS: now.UnixMilli(),
		AccessTokenHash: accessHash, AccessExpiresTS: plan.accessExpiresTS,
		SessionExpiresTS: plan.sessionExpiresTS,
	}
	res := &LoginResult{UserID: userID, DeviceID: deviceID, AccessToken: access, ExpiresIn: plan.expiresIn}
	if plan.refresh {
		refresh, refreshHash := newToken(refreshTokenPrefix)
		ns.RefreshTokenHash, ns.RefreshExpiresTS = refreshHash, plan.refreshExpiresTS
		res.RefreshToken = refresh
	}
	return ns, res
}

// Authenticate resolves an access token used by a client at ip with
// userAgent (either may be ""). Unknown and revoked tokens are 401
// M_UNKNOWN_TOKEN; expired ones too, with soft_logout so the client may
// refresh or log in again keeping its device (client-server-api,
// "Refreshing access tokens" and "Soft logout"). An application service's
// as_token authenticates as its sender, or as the user and device it
// asserts (see appserviceSession).
func (s *Service) Authenticate(ctx context.Context, token, ip, userAgent string, as Assertion) (*Session, error) {
	if reg := s.opts.Appservices.ByASToken(token); reg != nil {
		return s.appserviceSession(ctx, reg, ip, as)
	}
	t, err := s.store.GetAccessToken(ctx, hashToken(token))
	if errors.Is(err, merr.ErrNotFound) {
		return nil, merr.UnknownToken("Unknown access token", false)
	}
	if err != nil {
		return nil, err
	}
	if t.Deactivated {
		return nil, merr.UnknownToken("This account has been deactivated", false)
	}
	if t.Locked {
		return nil, merr.UserLocked("User account has been locked")
	}
	now := s.now()
	nowMS := now.UnixMilli()
	if t.ExpiresTS != 0 && nowMS >= t.ExpiresTS {
		return nil, merr.UnknownToken("Access token has expired", true)
	}
	if !t.Used || nowMS-t.LastUsedTS >= lastSeenInterval.Milliseconds() {
		err := s.store.TouchAccessToken(ctx, accounts.TokenUse{
			TokenID: t.ID, UserID: t.UserID, DeviceID: t.DeviceID, RefreshTokenID: t.RefreshTokenID,
			FirstUse: !t.Used, NowTS: nowMS, IP: ip, UserAgent: userAgent,
		})
		if err != nil && ctx.Err() == nil {
			// Bookkeeping only: the request itself may proceed.
			s.log.Warn("recording access token use failed", "user", t.UserID, "err", err)
		}
	}
	return &Session{UserID: t.UserID, DeviceID: t.DeviceID, IsGuest: t.IsGuest, IsAdmin: t.IsAdmin, TokenID: t.ID,
		ShadowBanned: t.ShadowBanned, Suspended: t.Suspended}, nil
}

// RefreshResult is the answer to POST /refresh.
type RefreshResult struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// Refresh exchanges a refresh token for new tokens (client-server-api,
// "Refreshing access tokens"). An unknown or revoked token is 401
// M_UNKNOWN_TOKEN; an expired one the same with soft_logout.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*RefreshResult, error) {
	access, accessHash := newToken(accessTokenPrefix)
	refresh, refreshHash := newToken(refreshTokenPrefix)
	now := s.now()
	res, err := s.store.RefreshSession(ctx, accounts.RefreshRequest{
		OldHash: hashToken(refreshToken), NowTS: now.UnixMilli(),
		AccessTokenHash: accessHash, RefreshTokenHash: refreshHash,
		AccessLifetime:  s.refreshedAccessLifetime(),
		RefreshLifetime: s.opts.RefreshTokenLifetime,
	})
	if err != nil {
		return nil, err
	}
	out := &RefreshResult{AccessToken: access, RefreshToken: refresh}
	if res.AccessExpiresTS != 0 {
		out.ExpiresIn = time.Duration(res.AccessExpiresTS-now.UnixMilli()) * time.Millisecond
	}
	return out, nil
}

// refreshedAccessLifetime is the lifetime of access tokens from /refresh.
// If an operator turned refresh tokens off after some were issued, those
// keep working with the non-refreshable lifetime.
func (s *Service) refreshedAccessLifetime() time.Duration {
	if s.opts.RefreshableAccessTokenLifetime > 0 {
		return s.opts.RefreshableAccessTokenLifetime
	}
	return s.opts.NonrefreshableAccessTokenLifetime
}
