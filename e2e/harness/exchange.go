package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Exchange is one request and its answer, kept for failure messages.
type Exchange struct {
	Server       string // who answered, for messages; "" when a test has one server
	Method, Path string
	ReqBody      []byte
	Status       int
	RespBody     []byte
}

// String shows the request and the answer, bodies cut to a readable size.
func (x *Exchange) String() string {
	var b strings.Builder
	if x.Server != "" {
		fmt.Fprintf(&b, "%s: ", x.Server)
	}
	fmt.Fprintf(&b, "%s %s", x.Method, x.Path)
	if len(x.ReqBody) > 0 {
		fmt.Fprintf(&b, " %s", truncate(x.ReqBody, 512))
	}
	fmt.Fprintf(&b, "\n  -> %d %s", x.Status, truncate(x.RespBody, 2048))
	return b.String()
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s... (%d bytes)", b[:n], len(b))
}

// Errcode returns the errcode of a Matrix error body, or "".
func (x *Exchange) Errcode() string {
	var e struct {
		Errcode string `json:"errcode"`
	}
	_ = json.Unmarshal(x.RespBody, &e)
	return e.Errcode
}

// Endpoint is a server as one HTTP client of a test reaches it.
type Endpoint struct {
	Label  string       // becomes Exchange.Server and prefixes errors; may be ""
	URL    string       // scheme://host:port, no trailing slash
	Client *http.Client // nil: http.DefaultClient
}

// Do sends a request with a JSON body (nil for none) and, unless token is
// "", an access token, and returns the exchange, or an error when no HTTP
// response arrived.
func (e Endpoint) Do(ctx context.Context, token, method, path string, body any) (*Exchange, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.Send(ctx, method, path, raw, h)
}

// Send sends body exactly as given (nil for none, JSON otherwise) with the
// extra header, and returns the exchange, or an error when no HTTP
// response arrived. It is Do for requests that sign or replay their bytes.
func (e Endpoint) Send(ctx context.Context, method, path string, body []byte, header http.Header) (*Exchange, error) {
	x := &Exchange{Server: e.Label, Method: method, Path: path, ReqBody: body}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := e.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	prefix := ""
	if e.Label != "" {
		prefix = e.Label + ": "
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s%s %s: %w", prefix, method, path, err)
	}
	defer resp.Body.Close()
	x.Status = resp.StatusCode
	if x.RespBody, err = io.ReadAll(resp.Body); err != nil {
		return nil, fmt.Errorf("%s%s %s: reading the response after status %d: %w", prefix, method, path, x.Status, err)
	}
	return x, nil
}
