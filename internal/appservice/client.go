package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
)

// Timeouts and bounds of requests to appservices.
const (
	// DefaultTimeout bounds one request. The spec asks a query to block
	// while the appservice creates the entity; Synapse waits up to a
	// minute for its appservice requests, and so do we.
	DefaultTimeout = 60 * time.Second
	// maxAnswer bounds what an appservice's answer may hold: third-party
	// lookups return lists, everything else an empty object.
	maxAnswer = 1 << 20
	// maxErrorBody is how much of a refusal's body StatusError keeps.
	maxErrorBody = 4 << 10
)

// ErrURLNotSet: the registration's url is null, so the appservice takes no
// requests.
var ErrURLNotSet = errors.New("appservice: the registration has no url")

// UnreachableError means the appservice is down: the request could not be
// made or got no answer (refused connection, DNS failure, TLS failure,
// timeout). Callers that queue work retry later.
type UnreachableError struct {
	// Timeout is set when the appservice did not answer in time.
	Timeout bool
	Err     error
}

func (e *UnreachableError) Error() string {
	if e.Timeout {
		return "appservice did not answer in time: " + e.Err.Error()
	}
	return "appservice unreachable: " + e.Err.Error()
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// StatusError means the appservice answered, with a status other than
// success: it said no (or is broken). Body is the start of its answer.
type StatusError struct {
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("appservice answered HTTP %d", e.Status)
}

// BadAnswerError means the appservice answered success with a body that is
// not what the API defines.
type BadAnswerError struct{ Err error }

func (e *BadAnswerError) Error() string {
	return "appservice sent a malformed answer: " + e.Err.Error()
}
func (e *BadAnswerError) Unwrap() error { return e.Err }

// ClientConfig builds a Client.
type ClientConfig struct {
	// Set lists the appservices; their URLs' hosts are the ones dialed
	// without the guard (see Client).
	Set *Set
	// Guard is the server's outbound IP policy (ip_range_blacklist and
	// ip_range_whitelist). Nil allows every address.
	Guard *netguard.Guard
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// Client makes the homeserver's requests to appservices
// (application-service-api.md, "Homeserver -> Application Service API"),
// with `Authorization: Bearer <hs_token>` on each.
//
// Which addresses it dials: the host:port of a registration's url is
// trusted as written, because the operator wrote it in a registration file
// they listed in app_service_config_files, and appservices usually run on
// localhost or a private network (Synapse does not apply
// ip_range_blacklist to appservices either). That file is the operator's
// permission: no other configuration key is needed, and
// ip_range_whitelist is not needed for it. Every other dial goes through
// the server's netguard.Guard. The client follows no redirects and uses no
// proxy, so in practice it only ever reaches the hosts the registrations
// name; the guard is there so that any other address, however it came to
// be dialed, meets the same policy as the rest of the server's outbound
// requests.
type Client struct {
	http    *http.Client
	timeout time.Duration
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	trusted := map[string]bool{}
	for _, r := range cfg.Set.All() {
		if hp, ok := hostPort(r.URL); ok {
			trusted[hp] = true
		}
	}
	plain := &net.Dialer{Timeout: cfg.Timeout}
	guarded := cfg.Guard.Dialer(&net.Dialer{Timeout: cfg.Timeout})
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if trusted[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	return &Client{timeout: cfg.Timeout, http: &http.Client{Transport: netguard.Transport(dial, cfg.Timeout, 8, nil),
		CheckRedirect: netguard.NoRedirects}}
}

// hostPort is the "host:port" the transport dials for a URL.
func hostPort(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), true
}

// PushTransaction sends a transaction: PUT
// {url}/_matrix/app/v1/transactions/{txnId} with body, which must be the
// JSON object the spec defines ({"events": [...], ...}). nil means the
// appservice acknowledged it.
func (c *Client) PushTransaction(ctx context.Context, reg *Registration, txnID string, body []byte) error {
	return c.do(ctx, reg, http.MethodPut, "/_matrix/app/v1/transactions/"+url.PathEscape(txnID), nil, body, nil)
}

// Ping asks the appservice to confirm it can be reached and knows the
// hs_token: POST {url}/_matrix/app/v1/ping. txnID is passed on when not
// empty.
func (c *Client) Ping(ctx context.Context, reg *Registration, txnID string) error {
	body := map[string]string{}
	if txnID != "" {
		body["transaction_id"] = txnID
	}
	b, _ := json.Marshal(body)
	return c.do(ctx, reg, http.MethodPost, "/_matrix/app/v1/ping", nil, b, nil)
}

// QueryUser asks whether the appservice has (or has now created) userID:
// GET {url}/_matrix/app/v1/users/{userId}. 200 is true, 404 false; any
// other answer is an error.
func (c *Client) QueryUser(ctx context.Context, reg *Registration, userID string) (bool, error) {
	return c.exists(ctx, reg, "/_matrix/app/v1/users/"+url.PathEscape(userID))
}

// QueryAlias asks whether the appservice has (or has now created) alias:
// GET {url}/_matrix/app/v1/rooms/{roomAlias}.
func (c *Client) QueryAlias(ctx context.Context, reg *Registration, alias string) (bool, error) {
	return c.exists(ctx, reg, "/_matrix/app/v1/rooms/"+url.PathEscape(alias))
}

func (c *Client) exists(ctx context.Context, reg *Registration, path string) (bool, error) {
	err := c.do(ctx, reg, http.MethodGet, path, nil, nil, nil)
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// ThirdPartyProtocol fetches the appservice's description of protocol:
// GET {url}/_matrix/app/v1/thirdparty/protocol/{protocol}, a JSON object.
func (c *Client) ThirdPartyProtocol(ctx context.Context, reg *Registration, protocol string) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.do(ctx, reg, http.MethodGet, "/_matrix/app/v1/thirdparty/protocol/"+url.PathEscape(protocol), nil, nil, &out); err != nil {
		return nil, err
	}
	if !isObject(out) {
		return nil, &BadAnswerError{errors.New("the protocol is not a JSON object")}
	}
	return out, nil
}

// ThirdPartyLocations looks up locations of protocol matching fields: GET
// {url}/_matrix/app/v1/thirdparty/location/{protocol}?fields.
func (c *Client) ThirdPartyLocations(ctx context.Context, reg *Registration, protocol string, fields url.Values) ([]json.RawMessage, error) {
	return c.list(ctx, reg, "/_matrix/app/v1/thirdparty/location/"+url.PathEscape(protocol), fields)
}

// ThirdPartyUsers looks up third-party users of protocol matching fields:
// GET {url}/_matrix/app/v1/thirdparty/user/{protocol}?fields.
func (c *Client) ThirdPartyUsers(ctx context.Context, reg *Registration, protocol string, fields url.Values) ([]json.RawMessage, error) {
	return c.list(ctx, reg, "/_matrix/app/v1/thirdparty/user/"+url.PathEscape(protocol), fields)
}

// ThirdPartyLocationsByAlias looks up the locations a Matrix room alias
// stands for: GET {url}/_matrix/app/v1/thirdparty/location?alias=.
func (c *Client) ThirdPartyLocationsByAlias(ctx context.Context, reg *Registration, alias string) ([]json.RawMessage, error) {
	return c.list(ctx, reg, "/_matrix/app/v1/thirdparty/location", url.Values{"alias": {alias}})
}

// ThirdPartyUsersByUserID looks up the third-party users a Matrix user ID
// stands for: GET {url}/_matrix/app/v1/thirdparty/user?userid=.
func (c *Client) ThirdPartyUsersByUserID(ctx context.Context, reg *Registration, userID string) ([]json.RawMessage, error) {
	return c.list(ctx, reg, "/_matrix/app/v1/thirdparty/user", url.Values{"userid": {userID}})
}

// list fetches a JSON array of objects.
func (c *Client) list(ctx context.Context, reg *Registration, path string, q url.Values) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if err := c.do(ctx, reg, http.MethodGet, path, q, nil, &out); err != nil {
		return nil, err
	}
	for _, item := range out {
		if !isObject(item) {
			return nil, &BadAnswerError{errors.New("a list item is not a JSON object")}
		}
	}
	return out, nil
}

func isObject(b json.RawMessage) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// do makes one request. The legacy unversioned paths the spec lets a
// homeserver fall back to are not tried: Synapse dropped them, and every
// maintained appservice library serves /_matrix/app/v1.
func (c *Client) do(ctx context.Context, reg *Registration, method, path string, q url.Values, body []byte, out any) error {
	if reg.URL == "" {
		return ErrURLNotSet
	}
	target := reg.URL + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return &UnreachableError{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+reg.HSToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Status: resp.StatusCode, Body: b}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return unreachable(ctx, err)
	}
	if len(data) > maxAnswer {
		return &BadAnswerError{fmt.Errorf("answer larger than %d bytes", maxAnswer)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &BadAnswerError{err}
	}
	return nil
}

func unreachable(ctx context.Context, err error) error {
	var ne net.Error
	timeout := errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	return &UnreachableError{Timeout: timeout, Err: err}
}
