// Package turn mints the TURN credentials clients use to relay calls
// (client-server-api, "Voice over IP"; GET /voip/turnServer).
package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"
)

// Servers is what the operator configured (Synapse's turn_* keys).
type Servers struct {
	URIs []string
	// SharedSecret, when set, mints a username and password per request
	// as the TURN REST API that coturn implements (use-auth-secret)
	// expects; otherwise Username and Password are handed out as they are.
	SharedSecret       string
	Username, Password string
	Lifetime           time.Duration
}

// Credentials is the answer of GET /voip/turnServer.
type Credentials struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	URIs     []string `json:"uris"`
	// TTL is how long the credentials last, in seconds.
	TTL int64 `json:"ttl"`
}

// For returns userID's credentials at now; ok is false when no TURN server
// is configured, or neither a secret nor fixed credentials are.
//
// With a shared secret the username is "<expiry unix seconds>:<user ID>"
// and the password base64(HMAC-SHA1(secret, username)): the TURN server
// recomputes the password from the username and refuses it after expiry,
// so nothing is shared between the two servers but the secret.
func (s Servers) For(userID string, now time.Time) (c Credentials, ok bool) {
	if len(s.URIs) == 0 {
		return Credentials{}, false
	}
	ttl := int64(s.Lifetime / time.Second)
	switch {
	case s.SharedSecret != "":
		user := strconv.FormatInt(now.Unix()+ttl, 10) + ":" + userID
		mac := hmac.New(sha1.New, []byte(s.SharedSecret))
		mac.Write([]byte(user))
		return Credentials{Username: user, Password: base64.StdEncoding.EncodeToString(mac.Sum(nil)), URIs: s.URIs, TTL: ttl}, true
	case s.Username != "" && s.Password != "":
		return Credentials{Username: s.Username, Password: s.Password, URIs: s.URIs, TTL: ttl}, true
	}
	return Credentials{}, false
}
