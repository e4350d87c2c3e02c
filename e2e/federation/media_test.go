package fede2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// mediaReq sends a media request with a raw body (nil for none) and
// returns the status, headers and body.
func (c *client) mediaReq(t testing.TB, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.s.httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, c.s.label, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// server-server-api "Content Repository": a user of one server downloads
// media uploaded on another through the authenticated endpoint; the
// first download fetches it over federation
// (/_matrix/federation/v1/media/download, multipart/mixed), later ones
// are served from the local cache, even with the origin down.
func TestFederation_MediaDownloadedFromAnotherServer(t *testing.T) {
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	data := make([]byte, 300<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	st, _, raw := alice.mediaReq(t, "POST", "/_matrix/media/v3/upload?filename=photo%20%C3%A9t%C3%A9.jpg", "image/jpeg", data)
	if st != http.StatusOK {
		t.Fatalf("upload on hs1: %d %s", st, raw)
	}
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(raw, &up); err != nil {
		t.Fatal(err)
	}
	mxc := strings.TrimPrefix(up.ContentURI, "mxc://")
	if !strings.HasPrefix(mxc, hs1.name+"/") {
		t.Fatalf("content_uri %q is not on hs1", up.ContentURI)
	}
	path := "/_matrix/client/v1/media/download/" + mxc

	st, hdr, raw := bob.mediaReq(t, "GET", path, "", nil)
	if st != http.StatusOK || !bytes.Equal(raw, data) {
		t.Fatalf("bob's download through hs2: %d, %d bytes (want %d)\nhs2: %s", st, len(raw), len(data),
			hs2.logLinesContaining("media"))
	}
	if hdr.Get("Content-Type") != "image/jpeg" ||
		hdr.Get("Content-Disposition") != "inline; filename*=utf-8''photo%20%C3%A9t%C3%A9.jpg" {
		t.Errorf("remote media served as %q, %q", hdr.Get("Content-Type"), hdr.Get("Content-Disposition"))
	}

	// Unknown media on the other server is 404.
	if st, _, raw := bob.mediaReq(t, "GET", "/_matrix/client/v1/media/download/"+hs1.name+"/nosuchmedia", "", nil); st != http.StatusNotFound {
		t.Errorf("unknown remote media: %d %s", st, raw)
	}

	hs1.stop()
	st, _, raw = bob.mediaReq(t, "GET", path, "", nil)
	if st != http.StatusOK || !bytes.Equal(raw, data) {
		t.Fatalf("second download with hs1 down (from the cache): %d, %d bytes", st, len(raw))
	}
}

// Outbound requests never reach a blocked address, redirects included: a
// remote whose media answer points (Location part) into 10.0.0.0/8 gets
// its media refused with 502, and the guard is what refused it (as the
// log says; the answer does not).
func TestFederation_MediaRedirectIntoABlockedRangeIsRefused(t *testing.T) {
	c := newCluster(t)
	hs := c.add("hs")
	mal := newRogue(t, c, "mal", nil)
	bob := hs.register(t, "bob")
	st, _, raw := bob.mediaReq(t, "GET", "/_matrix/client/v1/media/download/"+mal.name+"/evil", "", nil)
	if st != http.StatusBadGateway {
		t.Fatalf("media redirected into 10.0.0.0/8: %d %s", st, raw)
	}
	// The guard's reason is logged, not told to the client: it would
	// map the server's network for whoever asks.
	if strings.Contains(string(raw), "blocked") || strings.Contains(string(raw), "10.") {
		t.Errorf("the answer tells the guard's reason: %s", raw)
	}
	if l := hs.logLinesContaining("fetching remote media failed"); !strings.Contains(l, "blocked") {
		t.Errorf("refused, but not by the IP guard (log: %q)", l)
	}
}
