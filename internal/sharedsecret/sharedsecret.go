// Package sharedsecret computes the message authentication code used by
// shared-secret registration (Synapse's admin API
// POST /_synapse/admin/v1/register). The Matrix spec does not define this
// API; the algorithm follows Synapse's documentation so that Synapse's
// register_new_matrix_user and Myelin's register-user interoperate with
// either server:
//
//	HMAC-SHA1(key = shared secret,
//	          msg = nonce \0 username \0 password \0 ("admin" | "notadmin")
//	                [\0 user_type])
//
// hex-encoded in lower case.
package sharedsecret

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"hash"
)

// MAC returns the hex HMAC for a registration request without a user type.
func MAC(secret, nonce, user, password string, admin bool) string {
	return hex.EncodeToString(sum(secret, nonce, user, password, admin, ""))
}

// MACWithUserType is MAC for requests that also carry a user_type (for
// example "bot"); an empty userType gives the same result as MAC.
func MACWithUserType(secret, nonce, user, password string, admin bool, userType string) string {
	return hex.EncodeToString(sum(secret, nonce, user, password, admin, userType))
}

// Verify reports whether mac (hex, either case) is the correct code for the
// request, comparing in constant time so the check leaks nothing about the
// expected value.
func Verify(mac, secret, nonce, user, password string, admin bool, userType string) bool {
	got, err := hex.DecodeString(mac)
	if err != nil {
		return false
	}
	return hmac.Equal(got, sum(secret, nonce, user, password, admin, userType))
}

func sum(secret, nonce, user, password string, admin bool, userType string) []byte {
	var m hash.Hash = hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce))
	m.Write([]byte{0})
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Write([]byte{0})
	if admin {
		m.Write([]byte("admin"))
	} else {
		m.Write([]byte("notadmin"))
	}
	if userType != "" {
		m.Write([]byte{0})
		m.Write([]byte(userType))
	}
	return m.Sum(nil)
}
