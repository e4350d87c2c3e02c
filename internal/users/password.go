package users

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/myelin-chat/myelin/internal/merr"
)

// bcryptMaxBytes is bcrypt's input limit. Longer inputs are truncated, as
// the Python bcrypt library that Synapse used truncated them, so that
// password hashes migrated from Synapse keep working. (A consequence, as in
// Synapse: the pepper only strengthens passwords shorter than 72 bytes.)
const bcryptMaxBytes = 72

// MaxPasswordBytes bounds passwords (Synapse rejects longer ones too):
// bcrypt ignores everything past 72 bytes anyway, and unbounded input is a
// cheap way to make the server hash megabytes.
const MaxPasswordBytes = 512

func (s *Service) peppered(password string) []byte {
	b := []byte(password + s.opts.Pepper)
	if len(b) > bcryptMaxBytes {
		b = b[:bcryptMaxBytes]
	}
	return b
}

// hashPassword returns the bcrypt hash of password plus pepper, in the
// format Synapse stores ("$2b$12$..." or Go's "$2a$"; both verify).
func (s *Service) hashPassword(password string) ([]byte, error) {
	cost := s.opts.BcryptCost
	if cost < bcrypt.MinCost {
		cost = bcrypt.DefaultCost
	}
	return bcrypt.GenerateFromPassword(s.peppered(password), cost)
}

// checkHash reports whether password matches hash. bcrypt's comparison is
// constant-time in the password.
func (s *Service) checkHash(hash, password string) bool {
	if hash == "" {
		// Compare anyway so that "no password" takes as long as "wrong
		// password".
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, s.peppered(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), s.peppered(password)) == nil
}

// HashPassword hashes a password the way the service stores it (for admin
// tools such as hash-password).
func (s *Service) HashPassword(password string) (string, error) {
	h, err := s.hashPassword(password)
	return string(h), err
}

// CheckPolicy applies password_config.policy to a password a user chose;
// a failure is 400 M_WEAK_PASSWORD naming the rule (client-server-api,
// "Password management"). The character classes are Synapse's: ASCII
// digits, ASCII letters, and anything else counts as a symbol.
func (s *Service) CheckPolicy(password string) error {
	if len(password) > MaxPasswordBytes {
		return merr.InvalidParam("Password is too long")
	}
	p := s.opts.Policy
	if !p.Enabled {
		return nil
	}
	if n := utf8.RuneCountInString(password); n < p.MinimumLength {
		return merr.WeakPassword("Password must be at least " + strconv.Itoa(p.MinimumLength) + " characters long")
	}
	var digit, lower, upper, symbol bool
	for _, r := range password {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		default:
			symbol = true
		}
	}
	switch {
	case p.RequireDigit && !digit:
		return merr.WeakPassword("Password must contain a digit")
	case p.RequireSymbol && !symbol:
		return merr.WeakPassword("Password must contain a symbol")
	case p.RequireLowercase && !lower:
		return merr.WeakPassword("Password must contain a lowercase letter")
	case p.RequireUppercase && !upper:
		return merr.WeakPassword("Password must contain an uppercase letter")
	}
	return nil
}

// errBadLogin is the one answer to every failed password check, so that it
// does not reveal whether the user exists (login.yaml: 403 M_FORBIDDEN).
var errBadLogin = merr.Forbidden("Invalid username or password")

// CheckPassword verifies a local user's password, for user-interactive
// authentication of a user who is already logged in. A wrong password is
// 403 M_FORBIDDEN.
func (s *Service) CheckPassword(ctx context.Context, userID, password string) error {
	if !s.opts.PasswordReauth {
		return merr.Forbidden("Password authentication is disabled")
	}
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, merr.ErrNotFound) {
		s.checkHash("", password)
		return merr.Forbidden("Invalid password")
	}
	if err != nil {
		return err
	}
	if u.Deactivated {
		return merr.UserDeactivated("This account has been deactivated")
	}
	if !s.checkHash(u.PasswordHash, password) {
		return merr.Forbidden("Invalid password")
	}
	return nil
}

// asciiLower lowercases A-Z only: localparts are ASCII, and full Unicode
// case folding would map distinct inputs onto valid localparts.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
