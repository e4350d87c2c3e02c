package fede2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// server-server-api "Content Repository" and authed-content-repo.yaml
// /thumbnail: a user of another server gets a thumbnail of media uploaded
// here (its server fetches the original over federation and thumbnails
// it), and another server asking for a thumbnail over federation
// (/_matrix/federation/v1/media/thumbnail) gets it as multipart/mixed:
// metadata, then the image.
func TestFederation_MediaThumbnails(t *testing.T) {
	c := newCluster(t)
	hs1, hs2 := c.add("hs1"), c.add("hs2")
	mal := newRogue(t, c, "mal", nil)
	alice, bob := hs1.register(t, "alice"), hs2.register(t, "bob")

	src := image.NewNRGBA(image.Rect(0, 0, 400, 300))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 13)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	st, _, raw := alice.mediaReq(t, "POST", "/_matrix/media/v3/upload?filename=pic.png", "image/png", b.Bytes())
	if st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, raw)
	}
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(raw, &up); err != nil {
		t.Fatal(err)
	}
	mxc := strings.TrimPrefix(up.ContentURI, "mxc://")
	mediaID := strings.TrimPrefix(mxc, hs1.name+"/")

	st, hdr, raw := bob.mediaReq(t, "GET", "/_matrix/client/v1/media/thumbnail/"+mxc+"?width=96&height=96&method=crop", "", nil)
	if st != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("bob's thumbnail through hs2: %d %q %s", st, hdr.Get("Content-Type"), hs2.logLinesContaining("media"))
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || cfg.Width != 96 || cfg.Height != 96 {
		t.Errorf("remote thumbnail: %+v, %v", cfg, err)
	}

	x := mal.exchange(t, hs1, "GET", "/_matrix/federation/v1/media/thumbnail/"+mediaID+"?width=320&height=240&method=scale", nil)
	if x.Status != http.StatusOK {
		t.Fatalf("federation thumbnail: %s", x)
	}
	// The body opens with its boundary: "--<boundary>\r\n".
	first, _, _ := bytes.Cut(x.RespBody, []byte("\r\n"))
	mr := multipart.NewReader(bytes.NewReader(x.RespBody), strings.TrimPrefix(string(first), "--"))
	meta, err := mr.NextPart()
	if err != nil || meta.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata part: %v %v", meta, err)
	}
	part, err := mr.NextPart()
	if err != nil || part.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("image part: %v, %v", part, err)
	}
	img, err := io.ReadAll(part)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Errorf("federation thumbnail: %+v, %v", cfg, err)
	}
}
