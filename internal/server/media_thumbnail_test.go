package server_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
)

func testPNG(t *testing.T, w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testJPEG(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngDeclaring is a PNG header declaring w×h pixels and no real data: a
// decompression bomb's shape.
func pngDeclaring(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(append(b, typ...), data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr)...)
	return append(out, chunk("IEND", nil)...)
}

func thumbnailOf(t *testing.T, c *servertest.Client, prefix, server, id, query string) (*http.Response, []byte) {
	t.Helper()
	return send(t, c, "GET", prefix+"/thumbnail/"+server+"/"+id+"?"+query, nil, nil)
}

// authed-content-repo.yaml /thumbnail: the thumbnail of an uploaded image,
// at the configured size nearest the request (dynamic_thumbnails off, as
// in Synapse by default), of the type Synapse gives its source type.
func TestMediaAPI_Thumbnails(t *testing.T) {
	eachMediaServer(t, "max_upload_size: 1M\n", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		server, pngID := uploadMedia(t, alice, "image/png", "wide.png", testPNG(t, 1000, 500))
		_, jpegID := uploadMedia(t, alice, "image/jpeg", "photo.jpg", testJPEG(t, 640, 480))
		_, textID := uploadMedia(t, alice, "text/plain", "notes.txt", []byte("not an image"))
		_, bombID := uploadMedia(t, alice, "image/png", "bomb.png", pngDeclaring(100000, 100000))
		tests := []struct {
			id, query    string
			wantType     string
			wantW, wantH int
		}{
			{pngID, "width=320&height=240&method=scale", "image/png", 320, 160},
			{pngID, "width=300&height=200", "image/png", 320, 160}, // method defaults to scale
			{pngID, "width=32&height=32&method=crop", "image/png", 32, 32},
			{pngID, "width=50&height=50&method=crop", "image/png", 96, 96},
			{jpegID, "width=800&height=600&method=scale", "image/jpeg", 640, 480},
			{jpegID, "width=96&height=96&method=crop", "image/jpeg", 96, 96},
		}
		for _, tt := range tests {
			resp, raw := thumbnailOf(t, alice, authedMedia, server, tt.id, tt.query)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", tt.query, resp.StatusCode, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("%s: Content-Type %q, want %q", tt.query, ct, tt.wantType)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
				t.Errorf("%s: served without the CSP: %q", tt.query, csp)
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
			if err != nil || cfg.Width != tt.wantW || cfg.Height != tt.wantH {
				t.Errorf("%s: %dx%d (%v), want %dx%d", tt.query, cfg.Width, cfg.Height, err, tt.wantW, tt.wantH)
			}
		}
		// Asked again: the same bytes, from storage.
		_, first := thumbnailOf(t, alice, authedMedia, server, pngID, "width=32&height=32&method=crop")
		_, again := thumbnailOf(t, alice, authedMedia, server, pngID, "width=32&height=32&method=crop")
		if !bytes.Equal(first, again) {
			t.Error("a second request got different bytes")
		}

		errs := []struct {
			id, query string
			status    int
			code      string
		}{
			{textID, "width=32&height=32&method=crop", 400, "M_UNKNOWN"},
			{bombID, "width=32&height=32&method=crop", 413, "M_TOO_LARGE"},
			{pngID, "height=32&method=crop", 400, "M_MISSING_PARAM"},
			{pngID, "width=32&height=32&method=stretch", 400, "M_INVALID_PARAM"},
			{"nosuchmedia", "width=32&height=32", 404, "M_NOT_FOUND"},
		}
		for _, e := range errs {
			resp, raw := thumbnailOf(t, alice, authedMedia, server, e.id, e.query)
			if resp.StatusCode != e.status || servertest.Errcode(raw) != e.code {
				t.Errorf("%s %s: %d %s, want %d %s", e.id, e.query, resp.StatusCode, raw, e.status, e.code)
			}
		}
	})
}

// The deprecated /_matrix/media/v3/thumbnail follows its download's
// freeze: media uploaded while authenticated media is on is not served
// there.
func TestMediaAPI_LegacyThumbnailIsFrozenLikeDownloads(t *testing.T) {
	eachMediaServer(t, "max_upload_size: 1M\n", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		server, id := uploadMedia(t, alice, "image/png", "a.png", testPNG(t, 100, 100))
		resp, raw := thumbnailOf(t, s.Anonymous(), legacyMedia, server, id, "width=32&height=32&method=crop")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("frozen legacy thumbnail: %d %s", resp.StatusCode, raw)
		}
	})
}

// previewSite is a web site on 127.0.0.1 (allowed by the test's
// url_preview_ip_range_whitelist) and one on 127.0.0.2 (blocked), each
// counting its requests.
type previewSite struct {
	*httptest.Server
	hits atomic.Int64
}

func newPreviewSite(t *testing.T, addr string, h http.HandlerFunc) *previewSite {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &previewSite{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

const previewYAML = `max_upload_size: 1M
url_preview_enabled: true
url_preview_ip_range_blacklist: [127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, "::1/128", "fe80::/10", "fc00::/7"]
url_preview_ip_range_whitelist: [127.0.0.1]
`

// authed-content-repo.yaml /preview_url: a page's Open Graph data, with
// its image fetched and stored as media (og:image becomes an mxc:// URI
// with matrix:image:size), through the URL preview IP blocklist: a
// redirect into a blocked range is refused, and the blocked site never
// sees a request. The image belongs to the preview cache, not to the user
// who asked.
func TestMediaAPI_PreviewURL(t *testing.T) {
	eachMediaServer(t, previewYAML, func(t *testing.T, s *servertest.Server) {
		private := newPreviewSite(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<title>intranet</title>")
		})
		img := testPNG(t, 60, 40)
		public := newPreviewSite(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/post":
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(w, `<html><head><title>Fallback</title><meta property="og:title" content="Matrix Blog Post">
					<meta property="og:description" content="A post"><meta property="og:image" content="/img.png"></head></html>`)
			case "/img.png":
				w.Header().Set("Content-Type", "image/png")
				w.Write(img)
			case "/to-intranet":
				http.Redirect(w, r, private.URL+"/", http.StatusFound)
			default:
				http.NotFound(w, r)
			}
		})
		alice := s.Register("alice")
		preview := func(u string) (int, []byte) {
			resp, raw := send(t, alice, "GET", authedMedia+"/preview_url?url="+url.QueryEscape(u), nil, nil)
			return resp.StatusCode, raw
		}
		st, raw := preview(public.URL + "/post")
		if st != 200 {
			t.Fatalf("preview: %d %s", st, raw)
		}
		var og map[string]any
		if err := json.Unmarshal(raw, &og); err != nil {
			t.Fatal(err)
		}
		if og["og:title"] != "Matrix Blog Post" || og["og:description"] != "A post" || og["og:image:type"] != "image/png" ||
			og["matrix:image:size"] != float64(len(img)) || og["og:image:width"] != float64(60) || og["og:image:height"] != float64(40) {
			t.Errorf("og = %s", raw)
		}
		mxc, _ := og["og:image"].(string)
		server, id := splitMXC(t, mxc)
		if resp, got := download(t, alice, authedMedia, server, id, ""); resp.StatusCode != 200 || !bytes.Equal(got, img) {
			t.Errorf("the preview's image as media: %d, %d bytes", resp.StatusCode, len(got))
		}
		// The image is the preview cache's, not alice's upload.
		admin := s.Register("admin")
		makeAdmin(t, s, admin.UserID)
		var mine struct {
			Total int64 `json:"total"`
		}
		admin.MustDo("GET", "/_synapse/admin/v1/users/"+alice.UserID+"/media", nil, &mine)
		if mine.Total != 0 {
			t.Errorf("the preview's image is listed as alice's media (%d items)", mine.Total)
		}
		// The v3 path answers too, from the cache.
		hits := public.hits.Load()
		resp, raw2 := send(t, alice, "GET", legacyMedia+"/preview_url?url="+url.QueryEscape(public.URL+"/post"), nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(raw, raw2) || public.hits.Load() != hits {
			t.Errorf("v3 preview_url: %d %s (fetches %d -> %d)", resp.StatusCode, raw2, hits, public.hits.Load())
		}

		for _, u := range []string{private.URL + "/", public.URL + "/to-intranet"} {
			if st, raw := preview(u); st != http.StatusForbidden {
				t.Errorf("%s: %d %s, want 403", u, st, raw)
			}
		}
		if n := private.hits.Load(); n != 0 {
			t.Errorf("the blocked site got %d requests", n)
		}
		if st, raw := preview("file:///etc/passwd"); st != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("file URL: %d %s", st, raw)
		}
		if st, raw := preview(""); st != 400 || servertest.Errcode(raw) != "M_MISSING_PARAM" {
			t.Errorf("no url: %d %s", st, raw)
		}
	})
}

// Previews are off unless url_preview_enabled: the endpoint is not there.
func TestMediaAPI_PreviewURLDisabledByDefault(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		resp, raw := send(t, s.Register("alice"), "GET", authedMedia+"/preview_url?url=https%3A%2F%2Fmatrix.org%2F", nil, nil)
		if resp.StatusCode != http.StatusNotFound || servertest.Errcode(raw) != "M_UNRECOGNIZED" {
			t.Errorf("%d %s", resp.StatusCode, raw)
		}
	})
}
