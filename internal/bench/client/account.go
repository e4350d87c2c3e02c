package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
)

// Client is one logged-in user on a Conn. It is safe for concurrent use.
type Client struct {
	Conn        *Conn
	UserID      string
	DeviceID    string
	AccessToken string

	txnPrefix string
	txn       atomic.Uint64
}

func newClient(conn *Conn, userID, deviceID, token string) *Client {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Client{Conn: conn, UserID: userID, DeviceID: deviceID, AccessToken: token, txnPrefix: "b" + hex.EncodeToString(b) + "-"}
}

// session is the answer of /register, /login and the admin register API.
type session struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
}

// RegisterDummy creates an account through POST /register with the
// m.login.dummy stage (client-server-api "User-Interactive Authentication
// API", "Dummy Auth") and returns it logged in.
func (c *Conn) RegisterDummy(ctx context.Context, localpart, password string) (*Client, error) {
	body := map[string]any{
		"username": localpart, "password": password,
		"auth":                        map[string]any{"type": "m.login.dummy"},
		"initial_device_display_name": "myelin-bench",
	}
	var s session
	r, err := c.do(ctx, "POST", "/_matrix/client/v3/register", "", body, 0)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		// The server wants the stage inside a session it opened: repeat
		// with the session from its 401.
		var uia struct {
			Session string `json:"session"`
		}
		if json.Unmarshal(e.Body, &uia) != nil || uia.Session == "" {
			return nil, err
		}
		body["auth"] = map[string]any{"type": "m.login.dummy", "session": uia.Session}
		r, err = c.do(ctx, "POST", "/_matrix/client/v3/register", "", body, 0)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(r.body, &s); err != nil {
		return nil, err
	}
	if s.AccessToken == "" {
		return nil, errors.New("register: no access token in the answer")
	}
	return newClient(c, s.UserID, s.DeviceID, s.AccessToken), nil
}

// SharedSecretMAC is the MAC of Synapse's shared-secret registration
// (Synapse docs/admin_api/register_api.md): hex HMAC-SHA1 keyed with the
// secret over nonce, user, password and "admin" or "notadmin", each
// separated by a NUL byte.
func SharedSecretMAC(secret, nonce, user, password string, admin bool) string {
	m := hmac.New(sha1.New, []byte(secret))
	role := "notadmin"
	if admin {
		role = "admin"
	}
	for i, part := range []string{nonce, user, password, role} {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// RegisterSharedSecret creates a (non-admin) account through Synapse's
// admin registration API with the shared secret and returns it logged in.
func (c *Conn) RegisterSharedSecret(ctx context.Context, secret, localpart, password string) (*Client, error) {
	var n struct {
		Nonce string `json:"nonce"`
	}
	if err := c.call(ctx, "GET", "/_synapse/admin/v1/register", "", nil, &n); err != nil {
		return nil, err
	}
	body := map[string]any{
		"nonce": n.Nonce, "username": localpart, "password": password, "admin": false,
		"mac": SharedSecretMAC(secret, n.Nonce, localpart, password, false),
	}
	var s session
	if err := c.call(ctx, "POST", "/_synapse/admin/v1/register", "", body, &s); err != nil {
		return nil, err
	}
	if s.AccessToken == "" {
		return nil, errors.New("shared-secret register: no access token in the answer")
	}
	return newClient(c, s.UserID, s.DeviceID, s.AccessToken), nil
}

// Login logs in with a password (m.login.password, user identifier) and
// returns a new device's session.
func (c *Conn) Login(ctx context.Context, localpart, password string) (*Client, error) {
	body := map[string]any{
		"type":                        "m.login.password",
		"identifier":                  map[string]any{"type": "m.id.user", "user": localpart},
		"password":                    password,
		"initial_device_display_name": "myelin-bench",
	}
	var s session
	if err := c.call(ctx, "POST", "/_matrix/client/v3/login", "", body, &s); err != nil {
		return nil, err
	}
	if s.AccessToken == "" {
		return nil, errors.New("login: no access token in the answer")
	}
	return newClient(c, s.UserID, s.DeviceID, s.AccessToken), nil
}

// Registrar creates accounts by one method: the shared secret when one is
// set, else open registration.
type Registrar struct {
	Conn         *Conn
	SharedSecret string
}

// Method names the registration method ("shared-secret" or "dummy").
func (r Registrar) Method() string {
	if r.SharedSecret != "" {
		return "shared-secret"
	}
	return "dummy"
}

// Register creates an account and returns it logged in.
func (r Registrar) Register(ctx context.Context, localpart, password string) (*Client, error) {
	if r.SharedSecret != "" {
		return r.Conn.RegisterSharedSecret(ctx, r.SharedSecret, localpart, password)
	}
	return r.Conn.RegisterDummy(ctx, localpart, password)
}
