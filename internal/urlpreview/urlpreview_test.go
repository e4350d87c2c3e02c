package urlpreview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/federation/netguard"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/urlpreviewstore"
)

// site is an HTTP server on a loopback address that counts its requests.
type site struct {
	*httptest.Server
	hits atomic.Int64
	mux  *http.ServeMux
}

func newSite(t *testing.T, addr string) *site {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &site{mux: http.NewServeMux()}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mux.ServeHTTP(w, r)
	}))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func pngBytes(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// loopbackGuard blocks Synapse's private ranges (127.0.0.0/8 among them)
// but allows 127.0.0.1, as an operator's whitelist would: the test's
// "public" site is on 127.0.0.1 and its "private" one on 127.0.0.2.
func loopbackGuard() *netguard.Guard {
	return netguard.New(netguard.DefaultBlocklist(), []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
}

type fixture struct {
	svc     *Service
	store   *urlpreviewstore.Store
	public  *site // 127.0.0.1, allowed
	private *site // 127.0.0.2, blocked
	now     time.Time
}

func newFixture(t *testing.T, db *sqldb.DB, mutate func(*Config)) *fixture {
	t.Helper()
	f := &fixture{public: newSite(t, "127.0.0.1"), private: newSite(t, "127.0.0.2"), now: time.UnixMilli(1_700_000_000_000)}
	f.private.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>internal admin page</title>`)
	})
	var err error
	if db != nil {
		if f.store, err = urlpreviewstore.New(context.Background(), db); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{ServerName: "hs.test", Guard: loopbackGuard(), Store: f.store, Now: func() time.Time { return f.now },
		LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
			switch host {
			case "public.test":
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			case "rebind.test":
				return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}}
	if mutate != nil {
		mutate(&cfg)
	}
	if f.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) preview(t *testing.T, u string, ts int64) (map[string]any, error) {
	t.Helper()
	raw, err := f.svc.Preview(context.Background(), "@alice:hs.test", u, ts)
	if err != nil {
		return nil, err
	}
	var og map[string]any
	if err := json.Unmarshal(raw, &og); err != nil {
		t.Fatalf("preview is not a JSON object: %s", raw)
	}
	return og, nil
}

func wantKind(t *testing.T, err, kind error, code string) {
	t.Helper()
	if !errors.Is(err, kind) || merr.CodeOf(err) != code {
		t.Fatalf("err = %v (code %s), want %v with %s", err, merr.CodeOf(err), kind, code)
	}
}

// TestPreview_OpenGraphFromLoopback: a page's Open Graph properties are
// served, and the Accept-Language of url_preview_accept_language is sent.
func TestPreview_OpenGraphFromLoopback(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.AcceptLanguage = []string{"fr-CH", "fr;q=0.9"} })
	var lang atomic.Value
	f.public.mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		lang.Store(r.Header.Get("Accept-Language"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><meta property="og:title" content="Matrix Blog Post">
			<meta property="og:description" content="A cool post"><meta property="og:site_name" content="Matrix">
			<meta property="og:url" content="https://matrix.org/blog/post"></head></html>`)
	})
	og, err := f.preview(t, f.public.URL+"/post", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"og:title": "Matrix Blog Post", "og:description": "A cool post", "og:site_name": "Matrix", "og:url": "https://matrix.org/blog/post"}
	if fmt.Sprint(og) != fmt.Sprint(want) {
		t.Errorf("og = %v, want %v", og, want)
	}
	if got := lang.Load(); got != "fr-CH, fr;q=0.9" {
		t.Errorf("Accept-Language %q", got)
	}
}

// TestPreview_BlockedAddressesAreNeverDialed: the guard refuses a blocked
// address whichever way the fetch reaches it: directly, by a DNS name that
// resolves to it, or by a redirect; the private site never sees a request.
func TestPreview_BlockedAddressesAreNeverDialed(t *testing.T) {
	f := newFixture(t, nil, nil)
	_, privatePort, _ := net.SplitHostPort(f.private.Listener.Addr().String())
	_, publicPort, _ := net.SplitHostPort(f.public.Listener.Addr().String())
	f.public.mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.private.URL+"/", http.StatusFound)
	})
	f.public.mux.HandleFunc("/redirect-by-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://rebind.test:"+privatePort+"/", http.StatusMovedPermanently)
	})
	f.public.mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<title>public</title>`)
	})
	for _, u := range []string{
		f.private.URL + "/",                       // an address in a blocked range
		"http://rebind.test:" + privatePort + "/", // a name resolving to one
		f.public.URL + "/redirect",                // a redirect to one
		f.public.URL + "/redirect-by-name",        // a redirect to a name resolving to one
		"http://[::ffff:127.0.0.2]:" + privatePort + "/",
	} {
		_, err := f.preview(t, u, 0)
		wantKind(t, err, merr.ErrForbidden, merr.CodeUnknown)
		if !strings.Contains(err.Error(), "IP address blocked") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if n := f.private.hits.Load(); n != 0 {
		t.Errorf("the blocked site got %d requests", n)
	}
	// The resolver is used, and an allowed address is reached through it.
	og, err := f.preview(t, "http://public.test:"+publicPort+"/ok", 0)
	if err != nil || og["og:title"] != "public" {
		t.Errorf("allowed name: %v, %v", og, err)
	}
}

// TestPreview_ImageInBlockedRangeIsNotFetched: the page's image goes
// through the guard too; the page is still previewed, without the image.
func TestPreview_ImageInBlockedRangeIsNotFetched(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.private.mux.HandleFunc("/img.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngBytes(t, 8, 8))
	})
	f.public.mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<meta property="og:title" content="t"><meta property="og:image" content="%s/img.png">`, f.private.URL)
	})
	og, err := f.preview(t, f.public.URL+"/page", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := og["og:image"]; ok || og["og:title"] != "t" {
		t.Errorf("og = %v", og)
	}
	if n := f.private.hits.Load(); n != 0 {
		t.Errorf("the blocked site got %d requests", n)
	}
}

// TestPreview_URLBlacklist: url_preview_url_blacklist refuses the URL, and
// a redirect to a refused URL, with Synapse's 403.
func TestPreview_URLBlacklist(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) {
		c.URLBlacklist = []config.URLBlacklistRule{{"hostname": "127.0.0.1", "path": "/secret*"}}
	})
	f.public.mux.HandleFunc("/secret/x", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<title>s</title>") })
	f.public.mux.HandleFunc("/to-secret", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/secret/x", http.StatusFound)
	})
	_, err := f.preview(t, f.public.URL+"/secret/x", 0)
	wantKind(t, err, merr.ErrForbidden, merr.CodeUnknown)
	before := f.public.hits.Load()
	_, err = f.preview(t, f.public.URL+"/to-secret", 0)
	wantKind(t, err, merr.ErrForbidden, merr.CodeUnknown)
	if n := f.public.hits.Load() - before; n != 1 {
		t.Errorf("%d requests; the redirect target must not be fetched", n)
	}
}

// TestPreview_InvalidURLs: only absolute http(s) URLs are previewed.
func TestPreview_InvalidURLs(t *testing.T) {
	f := newFixture(t, nil, nil)
	for _, u := range []string{"", "file:///etc/passwd", "ftp://example.org/", "/relative", "http://", "http://%zz/", "https://example.org/" + strings.Repeat("a", maxURLBytes)} {
		_, err := f.preview(t, u, 0)
		wantKind(t, err, merr.ErrBadRequest, merr.CodeInvalidParam)
	}
}

// TestPreview_SizeAndTimeBounds: a body over max_spider_size is refused
// whether or not its length was announced, and a site that does not answer
// in time is given up on.
func TestPreview_SizeAndTimeBounds(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.MaxSize = 1000; c.Timeout = 300 * time.Millisecond })
	big := strings.Repeat("x", 1001)
	f.public.mux.HandleFunc("/announced", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) })
	f.public.mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 3 {
			fmt.Fprint(w, big[:500])
			w.(http.Flusher).Flush()
		}
	})
	f.public.mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<title>ok</title>", big[:983]) })
	f.public.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	for _, p := range []string{"/announced", "/chunked"} {
		_, err := f.preview(t, f.public.URL+p, 0)
		wantKind(t, err, merr.ErrBadGateway, merr.CodeTooLarge)
	}
	if og, err := f.preview(t, f.public.URL+"/exact", 0); err != nil || og["og:title"] != "ok" {
		t.Errorf("a body of exactly max_spider_size: %v, %v", og, err)
	}
	_, err := f.preview(t, f.public.URL+"/slow", 0)
	wantKind(t, err, merr.ErrGatewayTimeout, merr.CodeUnknown)
}

// TestPreview_OtherContent: content that is neither HTML nor an image has
// an empty preview, as in Synapse; an error status is a 502.
func TestPreview_OtherContent(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.public.mux.HandleFunc("/data.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"og:title":"not html"}`)
	})
	og, err := f.preview(t, f.public.URL+"/data.json", 0)
	if err != nil || len(og) != 0 {
		t.Errorf("json: %v, %v", og, err)
	}
	_, err = f.preview(t, f.public.URL+"/missing", 0)
	wantKind(t, err, merr.ErrBadGateway, merr.CodeUnknown)
}

// TestPreview_CachedByURLAndTS: a preview is fetched once and served from
// the store for an hour; a ts inside a cached version's life is answered
// from it, and a later one refetches.
func TestPreview_CachedByURLAndTS(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db, nil)
		title := "v1"
		f.public.mux.HandleFunc("/p", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "<title>%s</title>", title) })
		u := f.public.URL + "/p"
		t0 := f.now.UnixMilli()
		for range 3 {
			if og, err := f.preview(t, u, 0); err != nil || og["og:title"] != "v1" {
				t.Fatalf("%v, %v", og, err)
			}
		}
		if n := f.public.hits.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
		title = "v2"
		f.now = f.now.Add(2 * time.Hour)
		if og, _ := f.preview(t, u, 0); og["og:title"] != "v2" {
			t.Errorf("after expiry: %v", og)
		}
		// ts in the first version's hour gets the first version.
		if og, _ := f.preview(t, u, t0+30*60*1000); og["og:title"] != "v1" {
			t.Errorf("ts within v1: %v", og)
		}
		if n := f.public.hits.Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})
}

// TestPreview_ConcurrentRequestsShareOneFetch: many clients previewing one
// link at once cost one fetch of the page, and all get its preview.
func TestPreview_ConcurrentRequestsShareOneFetch(t *testing.T) {
	f := newFixture(t, nil, nil)
	release := make(chan struct{})
	f.public.mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<title>shared</title>")
	})
	const n = 8
	u := f.public.URL + "/busy"
	results := make(chan error, n)
	for range n {
		go func() {
			raw, err := f.svc.Preview(context.Background(), "@a:hs.test", u, 0)
			if err == nil && !strings.Contains(string(raw), "shared") {
				err = fmt.Errorf("got %s", raw)
			}
			results <- err
		}()
	}
	// Wait until all but the first are waiting for the first's fetch.
	for {
		f.svc.mu.Lock()
		fl := f.svc.flights[u]
		waiting := fl != nil && fl.waiters == n-1
		f.svc.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	if hits := f.public.hits.Load(); hits != 1 {
		t.Errorf("%d fetches for %d concurrent previews, want 1", hits, n)
	}
}

// TestPreview_ImageBelongsToTheCacheAndExpires: a preview's image is
// stored as media of the preview cache, not of the user who asked (it is
// neither in their media nor in their usage), and the cache expires as
// Synapse's does: answers once past their hour, images two days after
// they were stored.
func TestPreview_ImageBelongsToTheCacheAndExpires(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ms, err := mediastore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := blob.NewDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var f *fixture
		svc := media.New(media.Config{ServerName: "hs.test", Store: ms, Blobs: blobs, MaxUploadSize: 1 << 20,
			Now: func() time.Time { return f.now }})
		f = newFixture(t, db, func(c *Config) { c.Media = svc })
		img := pngBytes(t, 30, 20)
		f.public.mux.HandleFunc("/img.png", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(img)
		})
		f.public.mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<meta property="og:title" content="t"><meta property="og:image" content="%s/img.png">`, f.public.URL)
		})
		og, err := f.preview(t, f.public.URL+"/post", 0)
		if err != nil {
			t.Fatal(err)
		}
		mxc, _ := og["og:image"].(string)
		id := strings.TrimPrefix(mxc, "mxc://hs.test/")
		open := func() error {
			c, err := svc.Open(ctx, "hs.test", id, media.OpenOptions{})
			if err == nil {
				c.Object.Close()
			}
			return err
		}
		if err := open(); err != nil {
			t.Fatalf("the preview's image %q: %v (og %v)", mxc, err, og)
		}
		if list, total, err := svc.UserMedia(ctx, "@alice:hs.test", 0, 10); err != nil || total != 0 || len(list) != 0 {
			t.Errorf("the asking user's media: %d items, %v", total, err)
		}
		if usage, err := ms.UsageByUploader(ctx, "hs.test", 0, f.now.UnixMilli()+1); err != nil || len(usage) != 0 {
			t.Errorf("usage: %+v, %v", usage, err)
		}

		f.now = f.now.Add(2 * time.Hour)
		answers, images, err := f.svc.Expire(ctx)
		if err != nil || answers != 1 || images != 0 {
			t.Fatalf("after two hours: %d answers, %d images expired, %v; want the answer only", answers, images, err)
		}
		if err := open(); err != nil {
			t.Errorf("the image went with its answer: %v", err)
		}
		f.now = f.now.Add(ImageLifetime)
		if _, images, err := f.svc.Expire(ctx); err != nil || images != 1 {
			t.Fatalf("after two days: %d images expired, %v", images, err)
		}
		if err := open(); !errors.Is(err, merr.ErrNotFound) {
			t.Errorf("the expired image: %v", err)
		}
	})
}
