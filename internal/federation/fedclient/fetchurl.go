package fedclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// maxURLRedirects bounds the redirects FetchURL follows.
const maxURLRedirects = 5

// FetchURL GETs an http(s) URL that another server handed us, such as the
// Location of a federation media download (server-server-api "Content
// Repository"), and returns the 2xx response with its body unread. The
// request is not signed. Every connection, the redirects' included, is
// dialed through the IP guard, so a remote server cannot point us at an
// address in a blocked range; at most maxURLRedirects are followed.
// Non-2xx answers are *Error; the caller closes the body.
func (c *Client) FetchURL(ctx context.Context, rawURL string) (*StreamResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: not an http(s) URL: %q", ErrBadResponse, rawURL)
	}
	stop := func() {}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		ctx, stop = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		stop()
		return nil, err
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.urlClient().Do(req)
	if err != nil {
		stop()
		return nil, fmt.Errorf("%w: GET %s: %w", ErrUnreachable, u.Host, unwrapURLError(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer stop()
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, remoteError(u.Host, resp, data)
	}
	return &StreamResponse{Status: resp.StatusCode, Header: resp.Header, ContentLength: resp.ContentLength,
		Body: &stopOnClose{ReadCloser: resp.Body, stop: stop}}, nil
}

// urlClient is the plain HTTP client of FetchURL, built on first use: no
// proxy (we choose the address; a proxy would undo the guard), the guarded
// dialer, and the federation TLS settings.
func (c *Client) urlClient() *http.Client {
	c.urlOnce.Do(func() {
		dialer := c.guardedDialer()
		c.urlTrans = &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       c.tlsConfig(),
			TLSHandshakeTimeout:   c.cfg.DialTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: c.cfg.Timeout,
		}
		c.urlHTTP = &http.Client{Transport: c.urlTrans, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxURLRedirects {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
				return fmt.Errorf("redirect to a %q URL", req.URL.Scheme)
			}
			return nil
		}}
	})
	return c.urlHTTP
}

// urlState is embedded in Client for FetchURL.
type urlState struct {
	urlOnce  sync.Once
	urlTrans *http.Transport
	urlHTTP  *http.Client
}
