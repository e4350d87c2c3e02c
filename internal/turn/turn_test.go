package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"testing"
	"time"
)

var uris = []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"}

// With a shared secret, the username names the expiry and the user, and the
// password is what a TURN server holding the same secret computes from the
// username (coturn's use-auth-secret).
func TestFor_SharedSecretMintsExpiringCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c, ok := Servers{URIs: uris, SharedSecret: "s3cret", Lifetime: time.Hour}.For("@alice:example.org", now)
	if !ok {
		t.Fatal("no credentials")
	}
	if c.Username != "1700003600:@alice:example.org" || c.TTL != 3600 || !slices.Equal(c.URIs, uris) {
		t.Fatalf("got %+v", c)
	}
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte(c.Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); c.Password != want {
		t.Fatalf("password %q, want %q", c.Password, want)
	}
}

// Without a secret, fixed credentials are handed out as configured.
func TestFor_FixedCredentials(t *testing.T) {
	c, ok := Servers{URIs: uris, Username: "u", Password: "p", Lifetime: time.Minute}.For("@a:x", time.Now())
	if !ok || c.Username != "u" || c.Password != "p" || c.TTL != 60 {
		t.Fatalf("got %+v, %v", c, ok)
	}
}

// No URIs, or URIs without any way to authenticate, means no TURN.
func TestFor_NothingConfigured(t *testing.T) {
	for _, s := range []Servers{{}, {URIs: uris}, {SharedSecret: "s"}, {URIs: uris, Username: "u"}} {
		if _, ok := s.For("@a:x", time.Now()); ok {
			t.Errorf("%+v offered credentials", s)
		}
	}
}
