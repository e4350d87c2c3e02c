package users

import (
	"context"
	"errors"
	"strings"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/accounts"
)

// Registration tokens (client-server-api "Token-authenticated
// registration"; their admin API is Synapse's,
// docs/usage/administration/admin_api/registration_tokens.md).
//
// A token has uses_allowed (nil: unlimited), completed registrations
// (stored, counted in the transaction that creates the account) and
// pending ones: user-interactive sessions that passed the token stage but
// have not registered yet. Pending uses are stored with those sessions
// (accounts.UIASession), so every process counts the same ones and they
// end when the session does; a token is valid while
// pending + completed < uses_allowed and it has not expired.

// MaxRegistrationTokenLength is the spec's bound on tokens.
const MaxRegistrationTokenLength = 64

// registrationTokenAlphabet is what tokens may hold: the spec's opaque
// identifier grammar, which Synapse also draws generated tokens from.
const registrationTokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"

// defaultRegistrationTokenLength is Synapse's default for generated tokens.
const defaultRegistrationTokenLength = 16

// errInvalidRegistrationToken fails the m.login.registration_token stage,
// with Synapse's code.
var errInvalidRegistrationToken = merr.New(merr.ErrForbidden, merr.CodeUnauthorized, "Invalid registration token")

// RegistrationTokenInfo is a token with its pending uses.
type RegistrationTokenInfo struct {
	accounts.RegistrationToken
	Pending int64
}

func (s *Service) withPending(ctx context.Context, t *accounts.RegistrationToken) (*RegistrationTokenInfo, error) {
	pending, err := s.store.PendingRegistrationTokenUses(ctx, s.nowMS())
	if err != nil {
		return nil, err
	}
	return &RegistrationTokenInfo{RegistrationToken: *t, Pending: pending[t.Token]}, nil
}

// validAt reports whether a token with pending uses may still be used at
// nowMS.
func validAt(t *accounts.RegistrationToken, pending, nowMS int64) bool {
	if t.UsesAllowed != nil && pending+t.Completed >= *t.UsesAllowed {
		return false
	}
	return t.ExpiryTime == nil || *t.ExpiryTime > nowMS
}

func checkTokenString(token string) error {
	if token == "" || len(token) > MaxRegistrationTokenLength {
		return errTokenChars
	}
	for i := 0; i < len(token); i++ {
		if !strings.ContainsRune(registrationTokenAlphabet, rune(token[i])) {
			return errTokenChars
		}
	}
	return nil
}

var errTokenChars = merr.InvalidParam("token must not be empty and must not be longer than 64 characters and consist only of the characters A-Z, a-z, 0-9, ., _, ~, and -")

// RegistrationTokenValid is GET /register/m.login.registration_token/validity:
// whether token could be used now (false for unknown tokens).
func (s *Service) RegistrationTokenValid(ctx context.Context, token string) (bool, error) {
	if checkTokenString(token) != nil {
		return false, nil
	}
	t, err := s.store.GetRegistrationToken(ctx, token)
	if errors.Is(err, merr.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	info, err := s.withPending(ctx, t)
	if err != nil {
		return false, err
	}
	return validAt(t, info.Pending, s.nowMS()), nil
}

// ReserveRegistrationToken passes the m.login.registration_token stage
// for a UIA session: if token is valid the session holds one pending use
// of it, which ends when the session is finished (the registration
// completed, storing the use) or expires. An invalid token fails the
// stage.
func (s *Service) ReserveRegistrationToken(ctx context.Context, sess *UIASession, token string) error {
	if checkTokenString(token) != nil {
		return errInvalidRegistrationToken
	}
	now := s.nowMS()
	held, err := s.store.HoldRegistrationToken(ctx, sess.ID, token, now, func(t *accounts.RegistrationToken, pending int64) bool {
		return validAt(t, pending, now)
	})
	if errors.Is(err, merr.ErrNotFound) || (err == nil && held == "") {
		return errInvalidRegistrationToken
	}
	if err != nil {
		return err
	}
	sess.RegistrationToken = held
	return nil
}

// ListRegistrationTokens returns every token; with valid set, only those
// that are (true) or are not (false) valid now.
func (s *Service) ListRegistrationTokens(ctx context.Context, valid *bool) ([]RegistrationTokenInfo, error) {
	list, err := s.store.ListRegistrationTokens(ctx)
	if err != nil {
		return nil, err
	}
	now := s.nowMS()
	pending, err := s.store.PendingRegistrationTokenUses(ctx, now)
	if err != nil {
		return nil, err
	}
	out := []RegistrationTokenInfo{}
	for _, t := range list {
		if valid == nil || validAt(&t, pending[t.Token], now) == *valid {
			out = append(out, RegistrationTokenInfo{RegistrationToken: t, Pending: pending[t.Token]})
		}
	}
	return out, nil
}

func tokenNotFound(token string) error {
	return merr.NotFound("No such registration token: " + token)
}

// GetRegistrationToken returns one token; 404 if unknown.
func (s *Service) GetRegistrationToken(ctx context.Context, token string) (*RegistrationTokenInfo, error) {
	t, err := s.store.GetRegistrationToken(ctx, token)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, tokenNotFound(token)
	}
	if err != nil {
		return nil, err
	}
	return s.withPending(ctx, t)
}

// NewRegistrationToken describes a token to create.
type NewRegistrationToken struct {
	// Token is "" to generate one of Length characters (0: 16).
	Token  string
	Length int
	// UsesAllowed is nil for unlimited uses.
	UsesAllowed *int64
	// ExpiryTime is nil for never (ms since the epoch).
	ExpiryTime *int64
}

func (s *Service) checkTokenLimits(uses, expiry *int64) error {
	if uses != nil && *uses < 0 {
		return merr.InvalidParam("uses_allowed must be a non-negative integer or null")
	}
	if expiry != nil && *expiry < s.nowMS() {
		return merr.InvalidParam("expiry_time must not be in the past")
	}
	return nil
}

// CreateRegistrationToken stores a new token, with Synapse's rules.
func (s *Service) CreateRegistrationToken(ctx context.Context, n NewRegistrationToken) (*RegistrationTokenInfo, error) {
	if err := s.checkTokenLimits(n.UsesAllowed, n.ExpiryTime); err != nil {
		return nil, err
	}
	t := accounts.RegistrationToken{Token: n.Token, UsesAllowed: n.UsesAllowed, ExpiryTime: n.ExpiryTime}
	if n.Token != "" {
		if err := checkTokenString(n.Token); err != nil {
			return nil, err
		}
		if err := s.store.CreateRegistrationToken(ctx, t); err != nil {
			return nil, err
		}
		return s.withPending(ctx, &t)
	}
	length := n.Length
	if length == 0 {
		length = defaultRegistrationTokenLength
	}
	if length < 0 || length > MaxRegistrationTokenLength {
		return nil, merr.InvalidParam("length must be an integer > 0 and <= 64")
	}
	for attempt := 0; ; attempt++ {
		t.Token = randomString(registrationTokenAlphabet, length)
		err := s.store.CreateRegistrationToken(ctx, t)
		if errors.Is(err, accounts.ErrRegistrationTokenExists) && attempt < 5 {
			continue // short tokens collide; draw another
		}
		if err != nil {
			return nil, err
		}
		return s.withPending(ctx, &t)
	}
}

// UpdateRegistrationToken changes uses_allowed and/or expiry_time.
func (s *Service) UpdateRegistrationToken(ctx context.Context, token string, u accounts.RegistrationTokenUpdate) (*RegistrationTokenInfo, error) {
	var uses, expiry *int64
	if u.SetUsesAllowed {
		uses = u.UsesAllowed
	}
	if u.SetExpiryTime {
		expiry = u.ExpiryTime
	}
	if err := s.checkTokenLimits(uses, expiry); err != nil {
		return nil, err
	}
	t, err := s.store.UpdateRegistrationToken(ctx, token, u)
	if errors.Is(err, merr.ErrNotFound) {
		return nil, tokenNotFound(token)
	}
	if err != nil {
		return nil, err
	}
	return s.withPending(ctx, t)
}

// DeleteRegistrationToken removes a token; 404 if unknown. Sessions that
// passed its stage may still register, as in Synapse.
func (s *Service) DeleteRegistrationToken(ctx context.Context, token string) error {
	err := s.store.DeleteRegistrationToken(ctx, token)
	if errors.Is(err, merr.ErrNotFound) {
		return tokenNotFound(token)
	}
	return err
}
