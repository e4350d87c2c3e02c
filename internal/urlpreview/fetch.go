package urlpreview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/merr"
)

// maxRedirects bounds the redirects one fetch follows.
const maxRedirects = 10

// fetched is one response body read to its end (bounded).
type fetched struct {
	url         *url.URL // after redirects
	contentType string   // media type, lower case, no parameters
	rawType     string   // the Content-Type header as sent
	body        []byte
}

// newClient returns the HTTP client of every preview fetch: its dialer
// runs the guard on each address actually dialed (after DNS, on every
// redirect, for the page and for its image), no proxy is ever used (a
// proxy would dial for us, out of the guard's sight), and redirects are
// bounded and checked against the URL blacklist.
func newClient(g *netguard.Guard, lookup func(context.Context, string) ([]netip.Addr, error), rules []rule, timeout time.Duration) *http.Client {
	dialer := g.Dialer(&net.Dialer{Timeout: timeout})
	dial := dialer.DialContext
	if lookup != nil {
		// Resolve with the given function, then dial each address: the
		// guard still sees, and checks, the address dialed.
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if _, err := netip.ParseAddr(host); err == nil {
				return dialer.DialContext(ctx, network, addr)
			}
			ips, err := lookup(ctx, host)
			if err != nil {
				return nil, err
			}
			var firstErr error
			for _, ip := range ips {
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				if firstErr == nil {
					firstErr = err
				}
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("no addresses for %s", host)
			}
			return nil, firstErr
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if err := checkURL(rules, req.URL); err != nil {
				return err
			}
			return nil
		},
	}
}

// checkURL refuses URLs that are not http(s) or that the blacklist names.
func checkURL(rules []rule, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return merr.InvalidParam("only http and https URLs can be previewed")
	}
	if blocked(rules, u) {
		// Synapse answers 403 "URL blocked".
		return merr.New(merr.ErrForbidden, merr.CodeUnknown, "URL blocked by url_preview_url_blacklist")
	}
	return nil
}

// fetch GETs u and reads at most maxSize bytes of its body.
func (s *Service) fetch(ctx context.Context, u *url.URL) (*fetched, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, merr.InvalidParam("invalid URL")
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept-Language", s.acceptLanguage)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fetchErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, merr.New(merr.ErrBadGateway, merr.CodeUnknown, fmt.Sprintf("the site answered %d", resp.StatusCode))
	}
	if resp.ContentLength > s.maxSize {
		return nil, s.tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxSize+1))
	if err != nil {
		return nil, fetchErr(err)
	}
	if int64(len(body)) > s.maxSize {
		return nil, s.tooLarge()
	}
	raw := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(raw)
	return &fetched{url: resp.Request.URL, contentType: strings.ToLower(mt), rawType: raw, body: body}, nil
}

func (s *Service) tooLarge() error {
	// Synapse: 502 M_TOO_LARGE "Requested file is too large".
	return merr.New(merr.ErrBadGateway, merr.CodeTooLarge, fmt.Sprintf("the page or image is larger than max_spider_size (%d bytes)", s.maxSize))
}

// fetchErr turns a failed fetch into its Matrix error: a refused address
// or URL is 403 (as Synapse's blocklisting agent answers), a timeout 504,
// anything else 502.
func fetchErr(err error) error {
	var me *merr.Error
	switch {
	case errors.As(err, &me):
		return me
	case errors.Is(err, netguard.ErrBlocked):
		return merr.New(merr.ErrForbidden, merr.CodeUnknown, "IP address blocked by url_preview_ip_range_blacklist")
	case errors.Is(err, context.DeadlineExceeded):
		return merr.New(merr.ErrGatewayTimeout, merr.CodeUnknown, "timed out fetching the URL")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return merr.New(merr.ErrGatewayTimeout, merr.CodeUnknown, "timed out fetching the URL")
	}
	return merr.New(merr.ErrBadGateway, merr.CodeUnknown, "failed to fetch the URL")
}
