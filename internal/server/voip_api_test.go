package server_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

type turnAnswer struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	URIs     []string `json:"uris"`
	TTL      int64    `json:"ttl"`
}

// GET /voip/turnServer hands a user credentials for the configured TURN
// servers, minted from turn_shared_secret as coturn's REST API expects:
// they name the user, expire after turn_user_lifetime, and the password is
// the HMAC the TURN server recomputes.
func TestVoIP_TurnServerMintsCredentialsFromTheSharedSecret(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		srv := servertest.Start(t, db, servertest.Options{ExtraYAML: `
turn_uris: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]
turn_shared_secret: "s3cret"
turn_user_lifetime: 2h
`})
		alice := srv.Register("alice")
		var got turnAnswer
		alice.MustDo("GET", "/_matrix/client/v3/voip/turnServer", nil, &got)
		if got.TTL != 7200 || len(got.URIs) != 2 || got.URIs[1] != "turns:turn.example.org:5349?transport=tcp" {
			t.Fatalf("got %+v", got)
		}
		expiry, user, ok := strings.Cut(got.Username, ":")
		if !ok || user != alice.UserID {
			t.Fatalf("username %q does not name %s", got.Username, alice.UserID)
		}
		if exp, err := strconv.ParseInt(expiry, 10, 64); err != nil || exp < time.Now().Unix()+7000 || exp > time.Now().Unix()+7300 {
			t.Fatalf("username %q does not expire in two hours", got.Username)
		}
		mac := hmac.New(sha1.New, []byte("s3cret"))
		mac.Write([]byte(got.Username))
		if got.Password != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Fatalf("password %q is not the HMAC of the username", got.Password)
		}
	})
}

// Without turn_uris the server offers no TURN, which Synapse (and so
// clients) express as an empty object; guests are refused when
// turn_allow_guests is off, and the endpoint needs a token.
func TestVoIP_NoTURNAndGuests(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		plain := servertest.Start(t, db, servertest.Options{})
		var empty map[string]any
		plain.Register("bob").MustDo("GET", "/_matrix/client/v3/voip/turnServer", nil, &empty)
		if len(empty) != 0 {
			t.Fatalf("got %v without turn_uris, want {}", empty)
		}
		if code, _ := plain.Anonymous().Do("GET", "/_matrix/client/v3/voip/turnServer", nil, nil); code != http.StatusUnauthorized {
			t.Fatalf("anonymous request: %d, want 401", code)
		}

		srv := servertest.Start(t, db, servertest.Options{ExtraYAML: `
allow_guest_access: true
turn_uris: ["turn:turn.example.org"]
turn_username: "fixed"
turn_password: "pw"
turn_allow_guests: false
`})
		var reg struct {
			UserID      string `json:"user_id"`
			AccessToken string `json:"access_token"`
		}
		srv.Anonymous().MustDo("POST", "/_matrix/client/v3/register?kind=guest", map[string]any{}, &reg)
		guest := srv.As(&servertest.Client{UserID: reg.UserID, AccessToken: reg.AccessToken})
		code, raw := guest.Do("GET", "/_matrix/client/v3/voip/turnServer", nil, nil)
		if code != http.StatusForbidden || servertest.Errcode(raw) != "M_GUEST_ACCESS_FORBIDDEN" {
			t.Fatalf("guest: %d %s, want 403 M_GUEST_ACCESS_FORBIDDEN", code, raw)
		}
		var fixed turnAnswer
		srv.Register("carol").MustDo("GET", "/_matrix/client/v3/voip/turnServer", nil, &fixed)
		if fixed.Username != "fixed" || fixed.Password != "pw" || fixed.TTL != 3600 {
			t.Fatalf("got %+v, want the fixed credentials for an hour", fixed)
		}
	})
}
