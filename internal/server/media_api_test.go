package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

const (
	uploadPath  = "/_matrix/media/v3/upload"
	authedMedia = "/_matrix/client/v1/media"
	legacyMedia = "/_matrix/media/v3"
	r0Media     = "/_matrix/media/r0"
)

// mediaServer is a test server with a small max_upload_size.
func eachMediaServer(t *testing.T, extra string, fn func(t *testing.T, s *servertest.Server)) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		fn(t, servertest.Start(t, db, servertest.Options{ExtraYAML: "max_upload_size: 1K\n" + extra}))
	})
}

// send makes a request with raw headers and body (a reader that is not a
// bytes or strings reader is sent chunked, without Content-Length).
func send(t *testing.T, c *servertest.Client, method, path string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// uploadMedia uploads data and returns the mxc URI's server name and ID.
func uploadMedia(t *testing.T, c *servertest.Client, contentType, filename string, data []byte) (string, string) {
	t.Helper()
	path := uploadPath
	if filename != "" {
		path += "?filename=" + url.QueryEscape(filename)
	}
	hdr := map[string]string{}
	if contentType != "" {
		hdr["Content-Type"] = contentType
	}
	resp, raw := send(t, c, "POST", path, hdr, bytes.NewReader(data))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return splitMXC(t, out.ContentURI)
}

func splitMXC(t *testing.T, mxc string) (string, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(mxc, "mxc://")
	server, id, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		t.Fatalf("not an mxc URI: %q", mxc)
	}
	return server, id
}

func download(t *testing.T, c *servertest.Client, prefix, server, id, query string) (*http.Response, []byte) {
	t.Helper()
	return send(t, c, "GET", prefix+"/download/"+server+"/"+id+query, nil, nil)
}

// content-repo.yaml: an upload returns an mxc URI, and the authenticated
// download serves the bytes with the uploaded type and file name.
func TestMediaAPI_UploadThenDownload(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		data := []byte("hello media")
		server, id := uploadMedia(t, alice, "text/plain", "notes.txt", data)
		if server != "localhost" || len(id) < 16 {
			t.Fatalf("mxc://%s/%s", server, id)
		}
		resp, raw := download(t, alice, authedMedia, server, id, "")
		if resp.StatusCode != 200 || !bytes.Equal(raw, data) {
			t.Fatalf("download: %d %q", resp.StatusCode, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != "inline; filename=notes.txt" {
			t.Errorf("Content-Disposition = %q", cd)
		}
		// The {fileName} segment names the file instead.
		resp, _ = download(t, alice, authedMedia, server, id, "/other.txt")
		if cd := resp.Header.Get("Content-Disposition"); cd != "inline; filename=other.txt" {
			t.Errorf("with a file name in the path: %q", cd)
		}
		// Another user may download it too; a missing Content-Type is
		// application/octet-stream (content-repo.yaml, v1.12).
		bob := s.Register("bob")
		_, id2 := uploadMedia(t, bob, "", "", []byte{1, 2, 3})
		resp, raw = download(t, alice, authedMedia, server, id2, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" || len(raw) != 3 {
			t.Errorf("untyped upload: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
	})
}

// authed-content-repo.yaml: the downloads and /config need an access
// token; media that does not exist, or an ID with characters outside
// A-Za-z0-9_- (path traversal), is 404 M_NOT_FOUND.
func TestMediaAPI_DownloadErrors(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		_, id := uploadMedia(t, alice, "text/plain", "", []byte("x"))
		resp, raw := download(t, s.Anonymous(), authedMedia, "localhost", id, "")
		if resp.StatusCode != 401 || servertest.Errcode(raw) != "M_MISSING_TOKEN" {
			t.Errorf("without a token: %d %s", resp.StatusCode, raw)
		}
		for _, p := range []string{"localhost/doesnotexist", "localhost/a.b", "localhost/..%2F..%2Fetc", "not_a!server/abc"} {
			resp, raw := send(t, alice, "GET", authedMedia+"/download/"+p, nil, nil)
			if resp.StatusCode != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("%s: %d %s", p, resp.StatusCode, raw)
			}
		}
		resp, raw = download(t, alice, authedMedia, "localhost", id, "?timeout_ms=soon")
		if resp.StatusCode != 400 || servertest.Errcode(raw) != "M_INVALID_PARAM" {
			t.Errorf("bad timeout_ms: %d %s", resp.StatusCode, raw)
		}
		var cfg map[string]int64
		alice.MustDo("GET", authedMedia+"/config", nil, &cfg)
		if cfg["m.upload.size"] != 1024 {
			t.Errorf("config: %v", cfg)
		}
		if st, _ := s.Anonymous().Do("GET", authedMedia+"/config", nil, nil); st != 401 {
			t.Errorf("config without a token: %d", st)
		}
	})
}

// client-server-api content repository "Security considerations":
// uploads over max_upload_size are 413 M_TOO_LARGE, whether the body
// declares its length or streams without one; nothing is stored.
func TestMediaAPI_UploadLargerThanMaxUploadSizeIsRefused(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		big := bytes.Repeat([]byte("a"), 1025)
		resp, raw := send(t, alice, "POST", uploadPath, map[string]string{"Content-Type": "text/plain"}, bytes.NewReader(big))
		if resp.StatusCode != 413 || servertest.Errcode(raw) != "M_TOO_LARGE" {
			t.Errorf("with Content-Length: %d %s", resp.StatusCode, raw)
		}
		chunked := io.MultiReader(bytes.NewReader(big[:600]), bytes.NewReader(big[600:]))
		resp, raw = send(t, alice, "POST", uploadPath, map[string]string{"Content-Type": "text/plain"}, chunked)
		if resp.StatusCode != 413 || servertest.Errcode(raw) != "M_TOO_LARGE" {
			t.Errorf("without Content-Length: %d %s", resp.StatusCode, raw)
		}
		// Exactly the limit is fine.
		uploadMedia(t, alice, "text/plain", "", big[:1024])
		if st, raw := s.Anonymous().Do("POST", uploadPath, "x", nil); st != 401 {
			t.Errorf("upload without a token: %d %s", st, raw)
		}
	})
}

// content-repo.yaml, /media/v1/create and PUT /upload/{serverName}/{mediaId}:
// an ID takes one upload from its creator; downloads wait for it up to
// timeout_ms and then get 504 M_NOT_YET_UPLOADED.
func TestMediaAPI_AsyncUpload(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		alice, bob := s.Register("alice"), s.Register("bob")
		var created struct {
			ContentURI      string `json:"content_uri"`
			UnusedExpiresAt int64  `json:"unused_expires_at"`
		}
		alice.MustDo("POST", "/_matrix/media/v1/create", map[string]any{}, &created)
		server, id := splitMXC(t, created.ContentURI)
		if created.UnusedExpiresAt == 0 {
			t.Error("no unused_expires_at")
		}
		resp, raw := download(t, alice, authedMedia, server, id, "?timeout_ms=0")
		if resp.StatusCode != 504 || servertest.Errcode(raw) != "M_NOT_YET_UPLOADED" {
			t.Errorf("before the upload: %d %s", resp.StatusCode, raw)
		}

		// A download waiting for the upload gets the content.
		var wg sync.WaitGroup
		var waited []byte
		var waitedStatus int
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, body := download(t, bob, authedMedia, server, id, "?timeout_ms=60000")
			waitedStatus, waited = r.StatusCode, body
		}()

		put := func(c *servertest.Client, server, id string) (*http.Response, []byte) {
			return send(t, c, "PUT", uploadPath+"/"+server+"/"+id+"?filename=a.txt",
				map[string]string{"Content-Type": "text/plain"}, strings.NewReader("async"))
		}
		if resp, raw := put(bob, server, id); resp.StatusCode != 403 || servertest.Errcode(raw) != "M_FORBIDDEN" {
			t.Errorf("another user's upload: %d %s", resp.StatusCode, raw)
		}
		if resp, raw := put(alice, server, "unknownid"); resp.StatusCode != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
			t.Errorf("unknown ID: %d %s", resp.StatusCode, raw)
		}
		if resp, raw := put(alice, "elsewhere.example", id); resp.StatusCode != 404 {
			t.Errorf("another server's ID: %d %s", resp.StatusCode, raw)
		}
		if resp, raw := put(alice, server, id); resp.StatusCode != 200 {
			t.Fatalf("upload: %d %s", resp.StatusCode, raw)
		}
		if resp, raw := put(alice, server, id); resp.StatusCode != 409 || servertest.Errcode(raw) != "M_CANNOT_OVERWRITE_MEDIA" {
			t.Errorf("second upload: %d %s", resp.StatusCode, raw)
		}
		wg.Wait()
		if waitedStatus != 200 || string(waited) != "async" {
			t.Errorf("waiting download: %d %q", waitedStatus, waited)
		}
	})
}

// content-repo.yaml: a user may hold max_pending_media_uploads IDs that
// wait for content; the next is 429 M_LIMIT_EXCEEDED.
func TestMediaAPI_PendingUploadsAreBounded(t *testing.T) {
	eachMediaServer(t, "max_pending_media_uploads: 2\n", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		alice.MustDo("POST", "/_matrix/media/v1/create", nil, nil)
		alice.MustDo("POST", "/_matrix/media/v1/create", nil, nil)
		st, raw := alice.Do("POST", "/_matrix/media/v1/create", nil, nil)
		if st != 429 || servertest.Errcode(raw) != "M_LIMIT_EXCEEDED" {
			t.Errorf("third pending ID: %d %s", st, raw)
		}
	})
}

// Large files are read in parts: Range requests get 206 with the range.
func TestMediaAPI_RangeRequests(t *testing.T) {
	eachMediaServer(t, "", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		server, id := uploadMedia(t, alice, "application/octet-stream", "", []byte("0123456789"))
		resp, raw := send(t, alice, "GET", authedMedia+"/download/"+server+"/"+id, map[string]string{"Range": "bytes=2-4"}, nil)
		if resp.StatusCode != 206 || string(raw) != "234" || resp.Header.Get("Content-Range") != "bytes 2-4/10" {
			t.Errorf("range: %d %q %q", resp.StatusCode, raw, resp.Header.Get("Content-Range"))
		}
	})
}

// client-server-api "Serving inline content": only the safe list is
// inline; an uploaded HTML or SVG file is an attachment, always with the
// CSP, nosniff and CORP headers, whatever the endpoint.
func TestMediaAPI_ServedContentHeaders(t *testing.T) {
	eachMediaServer(t, "enable_authenticated_media: false\n", func(t *testing.T, s *servertest.Server) {
		alice := s.Register("alice")
		cases := []struct {
			contentType, name, disposition string
		}{
			{"text/html", "page.html", "attachment; filename=page.html"},
			{"text/html; charset=utf-8", "", "attachment"},
			{"image/svg+xml", "logo.svg", "attachment; filename=logo.svg"},
			{"application/xhtml+xml", "", "attachment"},
			{"image/png", "cat.png", "inline; filename=cat.png"},
			{"IMAGE/PNG", "", "inline"},
			{"text/plain", "naïve résumé.txt", "inline; filename*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"},
			{"application/pdf", `a "quoted" name.pdf`, `attachment; filename="a \"quoted\" name.pdf"`},
		}
		for _, tc := range cases {
			server, id := uploadMedia(t, alice, tc.contentType, tc.name, []byte("<html><script>alert(1)</script></html>"))
			for _, prefix := range []string{authedMedia, legacyMedia} {
				resp, _ := download(t, alice, prefix, server, id, "")
				h := resp.Header
				if resp.StatusCode != 200 {
					t.Errorf("%s %s: %d", prefix, tc.contentType, resp.StatusCode)
					continue
				}
				if got := h.Get("Content-Disposition"); got != tc.disposition {
					t.Errorf("%s %s: Content-Disposition %q, want %q", prefix, tc.contentType, got, tc.disposition)
				}
				want := map[string]string{
					"Content-Security-Policy":      "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
					"X-Content-Type-Options":       "nosniff",
					"Cross-Origin-Resource-Policy": "cross-origin",
					"Access-Control-Allow-Origin":  "*",
				}
				for k, v := range want {
					if h.Get(k) != v {
						t.Errorf("%s %s: %s = %q", prefix, tc.contentType, k, h.Get(k))
					}
				}
			}
		}
	})
}

// client-server-api "Content repository", the freeze: with
// enable_authenticated_media on (the default), media uploaded now is
// 404 M_NOT_FOUND on the deprecated unauthenticated endpoint; media
// uploaded before the freeze stays served there. /_matrix/media/r0, the
// older prefix Synapse still serves, is the same endpoint.
func TestMediaAPI_UnauthenticatedDownloadsAreFrozen(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		dir := t.TempDir()
		before := servertest.StartIn(t, dir, db, servertest.Options{ExtraYAML: "enable_authenticated_media: false\n"})
		alice := before.Register("alice")
		_, oldID := uploadMedia(t, alice, "text/plain", "", []byte("old"))
		for _, prefix := range []string{legacyMedia, r0Media} {
			resp, raw := download(t, before.Anonymous(), prefix, "localhost", oldID, "")
			if resp.StatusCode != 200 || string(raw) != "old" {
				t.Fatalf("%s before the freeze: %d %s", prefix, resp.StatusCode, raw)
			}
		}
		var cfg struct {
			Size int64 `json:"m.upload.size"`
		}
		alice.MustDo("GET", r0Media+"/config", nil, &cfg)
		if cfg.Size <= 0 {
			t.Errorf("r0 config: %+v", cfg)
		}
		before.Stop()

		after := servertest.StartIn(t, dir, db, servertest.Options{})
		alice = after.As(alice)
		_, newID := uploadMedia(t, alice, "text/plain", "", []byte("new"))
		for _, prefix := range []string{legacyMedia, r0Media} {
			resp, raw := download(t, after.Anonymous(), prefix, "localhost", newID, "")
			if resp.StatusCode != 404 || servertest.Errcode(raw) != "M_NOT_FOUND" {
				t.Errorf("%s: new media, unauthenticated: %d %s", prefix, resp.StatusCode, raw)
			}
			if resp, raw := download(t, after.Anonymous(), prefix, "localhost", oldID, ""); resp.StatusCode != 200 || string(raw) != "old" {
				t.Errorf("%s: old media, unauthenticated, after the freeze: %d %s", prefix, resp.StatusCode, raw)
			}
		}
		if resp, raw := download(t, alice, authedMedia, "localhost", newID, ""); resp.StatusCode != 200 || string(raw) != "new" {
			t.Errorf("new media, authenticated: %d %s", resp.StatusCode, raw)
		}
	})
}
