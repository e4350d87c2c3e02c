// Package openid issues OpenID tokens (client-server-api "OpenID"): a user
// proves their identity to a third party (a widget, an integration
// manager), which checks the token with this server over federation
// (server-server-api "OpenID", GET /openid/userinfo).
package openid

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/openidstore"
)

// Lifetime is how long a token is valid: the hour Synapse gives.
const Lifetime = time.Hour

// Token is an issued token.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// Service issues and checks tokens.
type Service struct {
	Store *openidstore.Store
	Now   func() time.Time
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Issue makes a token for userID; only its hash is stored.
func (s *Service) Issue(ctx context.Context, userID string) (Token, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now()
	if err := s.Store.Add(ctx, hash(token), userID, now.Add(Lifetime).UnixMilli(), now.UnixMilli()); err != nil {
		return Token{}, err
	}
	return Token{AccessToken: token, ExpiresIn: Lifetime}, nil
}

// UserInfo returns the user a valid token was issued to; 401
// M_UNKNOWN_TOKEN for an unknown or expired one (openid.yaml).
func (s *Service) UserInfo(ctx context.Context, token string) (string, error) {
	if token == "" || len(token) > 256 {
		return "", merr.UnknownToken("Token not recognized or expired", false)
	}
	userID, err := s.Store.UserOf(ctx, hash(token), s.Now().UnixMilli())
	if err != nil {
		return "", err
	}
	if userID == "" {
		return "", merr.UnknownToken("Token not recognized or expired", false)
	}
	return userID, nil
}
