// Package identity is Myelin's client for identity servers (the Identity
// Service API, v2): the look-up of a third-party identifier, the storage of
// an invite for an identifier nobody has bound yet, and the check that an
// identity server's key is still valid. Third-party invites
// (internal/tpinvite) use it.
//
// An identity server is named by the client that asks (id_server: a host
// and optional port), so every request goes through a netguard.Guard built
// from ip_range_blacklist / ip_range_whitelist, as Synapse does for
// identity servers, and never through a proxy. Identity servers are spoken
// to over HTTPS only (identity-service-api "API standards": "HTTPS is
// required"); their certificates are checked against RootCAs.
package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/ids"
	"github.com/myelin-chat/myelin/internal/merr"
)

// DefaultTimeout bounds one request to an identity server, connection and
// answer included.
const DefaultTimeout = 15 * time.Second

// Bounds of what an identity server's answers may hold.
const (
	maxAnswer         = 64 << 10
	maxPublicKeys     = 10
	maxDisplayName    = 512
	maxValidityURL    = 2048
	maxTokenLength    = 255
	maxAccessToken    = 1024
	maxAddressLength  = 512
	maxMediumLength   = 64
	maxIdentityServer = 255
)

// Config builds a Client.
type Config struct {
	// Guard decides which addresses identity servers may be reached at
	// (Synapse's ip_range_blacklist and ip_range_whitelist).
	Guard *netguard.Guard
	// RootCAs verify identity servers' certificates; nil: the system's.
	RootCAs *x509.CertPool
	// Timeout bounds each request; 0: DefaultTimeout.
	Timeout time.Duration
}

// Client talks to identity servers. It is safe for concurrent use.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	dialer := cfg.Guard.Dialer(&net.Dialer{Timeout: cfg.Timeout})
	tr := netguard.Transport(dialer.DialContext, cfg.Timeout, 4, &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12})
	return &Client{timeout: cfg.Timeout, http: &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: netguard.NoRedirects}}
}

// Request names the identity server and the user's access token there, as a
// client gives them (client-server-api Invite3pid: id_server,
// id_access_token), and the third-party identifier.
type Request struct {
	IDServer    string
	AccessToken string
	Medium      string
	Address     string
}

// Validate refuses what cannot name an identity server or an identifier:
// id_server must be a server name (host and optional port, nothing that
// would change the URL's path), and every field is bounded.
func (r Request) Validate() error {
	switch {
	case r.IDServer == "" || r.AccessToken == "" || r.Medium == "" || r.Address == "":
		return merr.MissingParam("a third-party invite needs id_server, id_access_token, medium and address")
	case len(r.IDServer) > maxIdentityServer || !ids.ValidServerName(r.IDServer):
		return merr.InvalidParam("id_server must be a host name with an optional port")
	case len(r.AccessToken) > maxAccessToken || len(r.Medium) > maxMediumLength || len(r.Address) > maxAddressLength:
		return merr.InvalidParam("id_access_token, medium or address is too long")
	}
	return nil
}

// Lookup asks the identity server which Matrix user ID, if any, has bound
// the identifier: GET /_matrix/identity/v2/hash_details, then POST
// /_matrix/identity/v2/lookup with the sha256 algorithm (which every server
// must support), falling back to "none" only when the server offers no
// sha256 (identity-service-api "Association lookup"). "" means nobody.
func (c *Client) Lookup(ctx context.Context, r Request) (string, error) {
	var details struct {
		Pepper     string   `json:"lookup_pepper"`
		Algorithms []string `json:"algorithms"`
	}
	if err := c.do(ctx, r.IDServer, r.AccessToken, http.MethodGet, "/_matrix/identity/v2/hash_details", nil, &details); err != nil {
		return "", err
	}
	algorithm, address := "", ""
	for _, a := range details.Algorithms {
		if a == "sha256" {
			algorithm, address = a, LookupHash(r.Address, r.Medium, details.Pepper)
			break
		}
		if a == "none" {
			algorithm, address = a, r.Address+" "+r.Medium
		}
	}
	if algorithm == "" {
		return "", merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s offers no lookup algorithm Myelin supports (sha256, none)", r.IDServer)
	}
	body := map[string]any{"algorithm": algorithm, "pepper": details.Pepper, "addresses": []string{address}}
	var res struct {
		Mappings map[string]string `json:"mappings"`
	}
	if err := c.do(ctx, r.IDServer, r.AccessToken, http.MethodPost, "/_matrix/identity/v2/lookup", body, &res); err != nil {
		return "", err
	}
	mxid := res.Mappings[address]
	if mxid == "" {
		return "", nil
	}
	if _, err := ids.ParseUserID(mxid); err != nil {
		return "", merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s mapped the address to %q, which is not a user ID", r.IDServer, mxid)
	}
	return mxid, nil
}

// LookupHash is the sha256 lookup form of an identifier
// (identity-service-api "Algorithms", sha256): "<address> <medium>
// <pepper>" hashed, in URL-safe unpadded base64.
func LookupHash(address, medium, pepper string) string {
	sum := sha256.Sum256([]byte(address + " " + medium + " " + pepper))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// InviteDetails is what the identity server may tell the invitee about the
// room and the inviter (identity-service-api POST /store-invite); empty
// fields are left out.
type InviteDetails struct {
	RoomID            string `json:"room_id"`
	Sender            string `json:"sender"`
	RoomAlias         string `json:"room_alias,omitempty"`
	RoomAvatarURL     string `json:"room_avatar_url,omitempty"`
	RoomJoinRules     string `json:"room_join_rules,omitempty"`
	RoomName          string `json:"room_name,omitempty"`
	RoomType          string `json:"room_type,omitempty"`
	SenderDisplayName string `json:"sender_display_name,omitempty"`
	SenderAvatarURL   string `json:"sender_avatar_url,omitempty"`
}

// PublicKey is one key an identity server signs invites with, and where to
// ask whether it is still valid.
type PublicKey struct {
	PublicKey      string `json:"public_key"`
	KeyValidityURL string `json:"key_validity_url"`
}

// StoredInvite is the identity server's answer to /store-invite: what the
// m.room.third_party_invite event carries.
type StoredInvite struct {
	Token       string      `json:"token"`
	PublicKeys  []PublicKey `json:"public_keys"`
	DisplayName string      `json:"display_name"`
}

// tokenGrammar is store-invite's token: "[0-9a-zA-Z.=_-]", 1 to 255
// characters.
var tokenGrammar = regexp.MustCompile(`^[0-9a-zA-Z.=_-]+$`)

// StoreInvite asks the identity server to keep an invite for the
// identifier and tell whoever binds it: POST
// /_matrix/identity/v2/store-invite. The answer is checked against the
// spec's shape, since it goes into a state event of the room.
func (c *Client) StoreInvite(ctx context.Context, r Request, d InviteDetails) (*StoredInvite, error) {
	body := map[string]any{"medium": r.Medium, "address": r.Address}
	raw, _ := json.Marshal(d)
	var extra map[string]any
	_ = json.Unmarshal(raw, &extra)
	for k, v := range extra {
		body[k] = v
	}
	var res StoredInvite
	if err := c.do(ctx, r.IDServer, r.AccessToken, http.MethodPost, "/_matrix/identity/v2/store-invite", body, &res); err != nil {
		return nil, err
	}
	bad := func(what string) error {
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s answered /store-invite with %s", r.IDServer, what)
	}
	switch {
	case len(res.Token) > maxTokenLength || !tokenGrammar.MatchString(res.Token):
		return nil, bad("a token outside the spec's grammar")
	case len(res.PublicKeys) == 0 || len(res.PublicKeys) > maxPublicKeys:
		return nil, bad(fmt.Sprintf("%d public keys", len(res.PublicKeys)))
	case res.DisplayName == "" || len(res.DisplayName) > maxDisplayName:
		return nil, bad("no display name, or one too long")
	}
	for _, k := range res.PublicKeys {
		if k.PublicKey == "" || len(k.PublicKey) > 64 || len(k.KeyValidityURL) > maxValidityURL {
			return nil, bad("a malformed public key")
		}
	}
	return &res, nil
}

// KeyValid asks a key_validity_url whether publicKey is still valid
// (identity-service-api GET /pubkey/isvalid, with the URL the
// m.room.third_party_invite event gave, as client-server-api "Third-party
// invites" asks: "using the provided URL rather than constructing a new
// one"). Only https and http URLs are fetched, through the same guard.
func (c *Client) KeyValid(ctx context.Context, validityURL, publicKey string) (bool, error) {
	u, err := url.Parse(validityURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false, merr.Forbidden("the third-party invite's key_validity_url is not an http(s) URL")
	}
	q := u.Query()
	q.Set("public_key", publicKey)
	u.RawQuery = q.Encode()
	var res struct {
		Valid bool `json:"valid"`
	}
	if err := c.send(ctx, u.Host, "", http.MethodGet, u, nil, &res); err != nil {
		return false, err
	}
	return res.Valid, nil
}

// do sends one request to an identity server's API over HTTPS.
func (c *Client) do(ctx context.Context, server, token, method, path string, body, out any) error {
	u := &url.URL{Scheme: "https", Host: server, Path: path}
	return c.send(ctx, server, token, method, u, body, out)
}

// send makes the request and maps every failure to a Matrix error that
// names the identity server: unreachable or refused by the address policy,
// 502; too slow, 504; an answer that is an error, 502 with the identity
// server's errcode and message, except 401 and 403 (a bad id_access_token,
// terms not accepted), which are the user's to fix and keep their errcode
// as 403.
func (c *Client) send(ctx context.Context, server, token, method string, u *url.URL, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return merr.InvalidParam("cannot make a request to identity server " + server)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, netguard.ErrBlocked):
			return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s is at an address this server may not contact", server)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return merr.Newf(merr.ErrGatewayTimeout, merr.CodeUnknown, "identity server %s did not answer in time", server)
		}
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s could not be reached: %s", server, shortError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s broke off its answer", server)
	}
	if len(raw) > maxAnswer {
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s answered with more than %d bytes", server, maxAnswer)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errcode string `json:"errcode"`
			Error   string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		code := merr.CodeUnknown
		if strings.HasPrefix(e.Errcode, "M_") && len(e.Errcode) <= 64 {
			code = e.Errcode
		}
		if len(e.Error) > 200 {
			e.Error = e.Error[:200]
		}
		msg := fmt.Sprintf("identity server %s answered %d %s", server, resp.StatusCode, strings.TrimSpace(e.Errcode+" "+e.Error))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return merr.New(merr.ErrForbidden, code, msg)
		}
		return merr.New(merr.ErrBadGateway, merr.CodeUnknown, msg)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return merr.Newf(merr.ErrBadGateway, merr.CodeUnknown, "identity server %s answered with something other than the JSON object the spec defines", server)
	}
	return nil
}

// shortError drops the request line Go puts before a transport error, so
// the message a client sees says what went wrong.
func shortError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
