package users

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/merr"
)

func newTestService(t *testing.T, mod func(*Options)) *Service {
	t.Helper()
	o := Options{ServerName: "example.org", BcryptCost: 4, PasswordLogin: true, PasswordReauth: true}
	if mod != nil {
		mod(&o)
	}
	s, err := New(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Hashes made by glibc/libxcrypt crypt(3) (perl -e 'print crypt(...)'), the
// same "$2b$" format Synapse's Python bcrypt writes, so accounts migrated
// from Synapse keep their passwords.
func TestCheckHash_ForeignBcryptHashes(t *testing.T) {
	tests := []struct {
		name, pepper, hash, password string
		ok                           bool
	}{
		{"plain", "", "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "hunter2", true},
		{"plain wrong", "", "$2b$04$abcdefghijklmnopqrstuuV3duMsC0HpUex6N9qapiuOHHWkwRXVm", "hunter3", false},
		{"pepper appended", "PEPPER", "$2b$04$abcdefghijklmnopqrstuuT3SKlivVZYH5ADLLT.6aOzcE7KBvfle", "hunter2", true},
		{"pepper missing", "", "$2b$04$abcdefghijklmnopqrstuuT3SKlivVZYH5ADLLT.6aOzcE7KBvfle", "hunter2", false},
		// bcrypt only reads 72 bytes; so did the hashes being migrated.
		{"truncated at 72 bytes", "", "$2b$04$abcdefghijklmnopqrstuubzadhGtS2zEF.gu0yd0opP6cVzb.e0i", strings.Repeat("x", 72) + "anything", true},
		{"no hash", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestService(t, func(o *Options) { o.Pepper = tt.pepper })
			if got := s.checkHash(tt.hash, tt.password); got != tt.ok {
				t.Errorf("checkHash = %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestHashPassword_RoundTripWithPepper(t *testing.T) {
	s := newTestService(t, func(o *Options) { o.Pepper = "p" })
	h, err := s.HashPassword(strings.Repeat("long ", 30)) // over 72 bytes
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$04$") {
		t.Errorf("hash %q does not use the configured cost", h)
	}
	if !s.checkHash(h, strings.Repeat("long ", 30)) {
		t.Error("own hash does not verify")
	}
	// As with Synapse's scheme, the pepper only counts within bcrypt's 72
	// bytes, so a password that long is not peppered at all.
	other := newTestService(t, nil)
	if !other.checkHash(h, strings.Repeat("long ", 30)) {
		t.Error("the pepper was expected to fall past bcrypt's 72 bytes")
	}
	h, _ = s.HashPassword("short")
	if other.checkHash(h, "short") {
		t.Error("hash verified without the pepper")
	}
}

// password_config.policy, with Synapse's character classes.
func TestCheckPolicy(t *testing.T) {
	s := newTestService(t, func(o *Options) {
		o.Policy = config.PasswordPolicy{Enabled: true, MinimumLength: 8, RequireDigit: true, RequireSymbol: true,
			RequireLowercase: true, RequireUppercase: true}
	})
	for _, tt := range []struct {
		password string
		ok       bool
	}{
		{"Abcdef1!", true},
		{"Äbcdef1!x", false}, // Ä is a symbol, not an upper-case ASCII letter
		{"ÄBcdef1!", true},
		{"Abcde1!", false},                   // 7 characters
		{"Abcdefg!", false},                  // no digit
		{"Abcdefg1", false},                  // no symbol
		{"ABCDEF1!", false},                  // no lower case
		{"abcdef1!", false},                  // no upper case
		{"Ab1!éééé", true},                   // length counts characters, not bytes
		{strings.Repeat("Aa1!", 200), false}, // over MaxPasswordBytes
	} {
		err := s.CheckPolicy(tt.password)
		if (err == nil) != tt.ok {
			t.Errorf("%q: err = %v, want ok=%v", tt.password, err, tt.ok)
		}
		if err != nil && len(tt.password) <= MaxPasswordBytes && merr.CodeOf(err) != merr.CodeWeakPassword {
			t.Errorf("%q: code %s, want M_WEAK_PASSWORD", tt.password, merr.CodeOf(err))
		}
	}
	if err := newTestService(t, nil).CheckPolicy("x"); err != nil {
		t.Errorf("disabled policy refused: %v", err)
	}
}

// Spec: client-server-api "Identifier types", m.id.user.
func TestResolveUser(t *testing.T) {
	s := newTestService(t, nil)
	for _, tt := range []struct {
		in, want, code string
	}{
		{"alice", "@alice:example.org", ""},
		{"Alice", "@alice:example.org", ""},
		{"@alice:example.org", "@alice:example.org", ""},
		{"@ALICE:example.org", "@alice:example.org", ""},
		{"@alice:other.org", "", merr.CodeForbidden},
		{"@alice", "", merr.CodeInvalidParam},
		{"", "", merr.CodeMissingParam},
	} {
		got, err := s.ResolveUser(tt.in)
		if got != tt.want || merr.CodeOf(err) != tt.code {
			t.Errorf("ResolveUser(%q) = %q, %v; want %q, %s", tt.in, got, err, tt.want, tt.code)
		}
	}
}

// Synapse's token lifetimes: refreshable tokens get
// refreshable_access_token_lifetime, others nonrefreshable_..., all capped
// by session_lifetime.
func TestPlanTokens(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	for _, tt := range []struct {
		name        string
		opts        Options
		wantRefresh bool
		want        tokenPlan
	}{
		{"no refresh, no expiry", Options{RefreshableAccessTokenLifetime: time.Minute}, false, tokenPlan{}},
		{"refresh", Options{RefreshableAccessTokenLifetime: time.Minute}, true,
			tokenPlan{accessExpiresTS: 1_060_000, refresh: true, expiresIn: time.Minute}},
		{"refresh disabled", Options{}, true, tokenPlan{}},
		{"refresh with refresh lifetime", Options{RefreshableAccessTokenLifetime: time.Minute, RefreshTokenLifetime: time.Hour}, true,
			tokenPlan{accessExpiresTS: 1_060_000, refresh: true, refreshExpiresTS: 4_600_000, expiresIn: time.Minute}},
		{"non-refreshable lifetime", Options{NonrefreshableAccessTokenLifetime: time.Hour}, false,
			tokenPlan{accessExpiresTS: 4_600_000, expiresIn: time.Hour}},
		{"session caps everything", Options{RefreshableAccessTokenLifetime: time.Hour, SessionLifetime: time.Second}, true,
			tokenPlan{accessExpiresTS: 1_001_000, refresh: true, refreshExpiresTS: 1_001_000, sessionExpiresTS: 1_001_000, expiresIn: time.Second}},
		{"session without other limits", Options{SessionLifetime: time.Second}, false,
			tokenPlan{accessExpiresTS: 1_001_000, sessionExpiresTS: 1_001_000, expiresIn: time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{opts: tt.opts}
			if got := s.planTokens(now, tt.wantRefresh); got != tt.want {
				t.Errorf("plan = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Synapse: nonces are single-use and forgotten after 60 seconds.
func TestNonceStore(t *testing.T) {
	clock := time.Unix(0, 0)
	n := newNonceStore(func() time.Time { return clock })
	a := n.issue()
	if !n.take(a) {
		t.Fatal("fresh nonce refused")
	}
	if n.take(a) {
		t.Fatal("nonce accepted twice")
	}
	if n.take("never-issued") {
		t.Fatal("unknown nonce accepted")
	}
	b := n.issue()
	clock = clock.Add(nonceLifetime)
	if n.take(b) {
		t.Fatal("expired nonce accepted")
	}
	for i := 0; i < maxNonces+10; i++ {
		n.issue()
	}
	if len(n.items) > maxNonces {
		t.Fatalf("%d nonces held, bound is %d", len(n.items), maxNonces)
	}
}

func TestSharedSecretRegister_ChecksBeforeMAC(t *testing.T) {
	s := newTestService(t, func(o *Options) { o.SharedSecret = "s" })
	nonce, _ := s.RegistrationNonce()
	_, err := s.SharedSecretRegister(t.Context(), SharedSecretRequest{Nonce: nonce, Username: "a", Password: "b", MAC: "zz"})
	if !errors.Is(err, merr.ErrForbidden) {
		t.Errorf("bad MAC: %v", err)
	}
	off := newTestService(t, nil)
	if _, err := off.RegistrationNonce(); err != ErrSharedSecretDisabled {
		t.Errorf("disabled: %v", err)
	}
}

func TestIDGeneration(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		d := newDeviceID()
		if len(d) != deviceIDLength || strings.Trim(d, deviceIDAlphabet) != "" || seen[d] {
			t.Fatalf("device ID %q", d)
		}
		seen[d] = true
	}
	tok, hash := newToken(accessTokenPrefix)
	if !strings.HasPrefix(tok, "mya_") || len(tok) != 4+43 || len(hash) != 32 {
		t.Errorf("token %q, hash %d bytes", tok, len(hash))
	}
	if string(hashToken(tok)) != string(hash) {
		t.Error("hash is not deterministic")
	}
}
