package thumbnailer

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/media"
	"github.com/myelin-chat/myelin/internal/media/blob"
	"github.com/myelin-chat/myelin/internal/merr"
	"github.com/myelin-chat/myelin/internal/storage/mediastore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/storage/thumbnailstore"
)

func sz(w, h int, method string) config.ThumbnailSize {
	return config.ThumbnailSize{Width: w, Height: h, Method: method}
}

// TestSelect: with dynamic_thumbnails off, a request gets the configured
// size Synapse's _select_thumbnail would pick.
func TestSelect(t *testing.T) {
	sizes := config.DefaultThumbnailSizes()
	tests := []struct {
		w, h   int
		method string
		want   config.ThumbnailSize
	}{
		{32, 32, "crop", sz(32, 32, "crop")},
		{40, 40, "crop", sz(96, 96, "crop")},
		{100, 100, "crop", sz(96, 96, "crop")},
		{96, 48, "crop", sz(96, 96, "crop")},
		{320, 240, "scale", sz(320, 240, "scale")},
		{700, 500, "scale", sz(800, 600, "scale")},
		{2000, 2000, "scale", sz(800, 600, "scale")},
		{64, 64, "scale", sz(320, 240, "scale")},
	}
	for _, tt := range tests {
		got, ok := Select(sizes, tt.w, tt.h, tt.method)
		if !ok || got != tt.want {
			t.Errorf("Select(%d, %d, %s) = %v, want %v", tt.w, tt.h, tt.method, got, tt.want)
		}
	}
	// Only crop sizes configured: a scale request still gets one.
	if got, ok := Select([]config.ThumbnailSize{sz(64, 64, "crop")}, 320, 240, "scale"); !ok || got.Width != 64 {
		t.Errorf("fallback to another method: %v, %v", got, ok)
	}
	if _, ok := Select(nil, 32, 32, "crop"); ok {
		t.Error("a size chosen from none")
	}
}

type rig struct {
	th    *Thumbnailer
	blobs blob.Store
	store *thumbnailstore.Store
}

func newRig(t *testing.T, db *sqldb.DB, dynamic bool) *rig {
	t.Helper()
	ctx := context.Background()
	store, err := thumbnailstore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mediastore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	keeper := media.NewKeeper(ms, blobs)
	keeper.AddUser(store)
	return &rig{th: New(Config{Store: store, Keeper: keeper, Sizes: config.DefaultThumbnailSizes(), Dynamic: dynamic}), blobs: blobs, store: store}
}

// content stores data and opens it as the media service would hand it over.
func (r *rig) content(t *testing.T, mediaID, contentType string, data []byte) *media.Content {
	t.Helper()
	ctx := context.Background()
	info, err := r.blobs.Put(ctx, bytes.NewReader(data), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := r.blobs.Open(ctx, info.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close() })
	return &media.Content{Media: &mediastore.Media{Origin: "hs.test", MediaID: mediaID, ContentType: contentType,
		Size: info.Size, SHA256: info.Key}, Object: obj}
}

func (r *rig) thumbnail(t *testing.T, c *media.Content, spec media.ThumbnailSpec) (image.Image, string, []byte) {
	t.Helper()
	th, err := r.th.Thumbnail(context.Background(), c, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer th.Body.Close()
	data, err := io.ReadAll(th.Body)
	if err != nil {
		t.Fatal(err)
	}
	var img image.Image
	switch th.ContentType {
	case "image/png":
		img, err = png.Decode(bytes.NewReader(data))
	case "image/jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "image/gif":
		img, err = gif.Decode(bytes.NewReader(data))
	}
	if err != nil || img == nil {
		t.Fatalf("%s thumbnail does not decode: %v", th.ContentType, err)
	}
	return img, th.ContentType, data
}

func encodePNG(t *testing.T, w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestThumbnail_ConfiguredSizeMadeOnceAndStored: a request gets the
// nearest configured size, made on first request and served from storage
// afterwards (here: even when the original can no longer be read).
func TestThumbnail_ConfiguredSizeMadeOnceAndStored(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, false)
		c := r.content(t, "pic", "image/png", encodePNG(t, 1000, 500))
		img, ct, first := r.thumbnail(t, c, media.ThumbnailSpec{Width: 300, Height: 200, Method: "scale"})
		if ct != "image/png" || img.Bounds().Dx() != 320 || img.Bounds().Dy() != 160 {
			t.Errorf("got %s %v, want image/png 320x160 (the 320x240 scale size)", ct, img.Bounds())
		}
		row, err := r.store.Get(context.Background(), "hs.test", "pic", 320, 240, "scale", "image/png")
		if err != nil || row == nil {
			t.Fatalf("not stored: %v, %v", row, err)
		}
		broken := &media.Content{Media: c.Media, Object: r.content(t, "other", "image/png", []byte("not an image")).Object}
		_, _, again := r.thumbnail(t, broken, media.ThumbnailSpec{Width: 300, Height: 200, Method: "scale"})
		if !bytes.Equal(first, again) {
			t.Error("the second request did not get the stored thumbnail")
		}
		// A lost blob is made again rather than failing.
		if err := r.blobs.Delete(context.Background(), row.SHA256); err != nil {
			t.Fatal(err)
		}
		if _, _, remade := r.thumbnail(t, c, media.ThumbnailSpec{Width: 300, Height: 200, Method: "scale"}); !bytes.Equal(first, remade) {
			t.Error("remade thumbnail differs")
		}
	})
}

// TestThumbnail_Dynamic: with dynamic_thumbnails the exact size is made.
func TestThumbnail_Dynamic(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, true)
		c := r.content(t, "pic", "image/png", encodePNG(t, 400, 400))
		img, _, _ := r.thumbnail(t, c, media.ThumbnailSpec{Width: 50, Height: 70, Method: "crop"})
		if b := img.Bounds(); b.Dx() != 50 || b.Dy() != 70 {
			t.Errorf("got %v, want 50x70", b)
		}
	})
}

// TestThumbnail_Refusals: media that is not a thumbnailable image gets
// Synapse's 400 "Failed to generate thumbnail."; an image over
// max_image_pixels gets 413 M_TOO_LARGE.
func TestThumbnail_Refusals(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, false)
		spec := media.ThumbnailSpec{Width: 32, Height: 32, Method: "crop"}
		for _, c := range []*media.Content{
			r.content(t, "svg", "image/svg+xml", []byte("<svg/>")),
			r.content(t, "txt", "text/plain", []byte("hello")),
			r.content(t, "fake", "image/png", []byte("not a png")),
		} {
			_, err := r.th.Thumbnail(context.Background(), c, spec)
			if !errors.Is(err, merr.ErrBadRequest) || merr.CodeOf(err) != merr.CodeUnknown {
				t.Errorf("%s: err = %v", c.Media.MediaID, err)
			}
		}
		r.th.cfg.MaxImagePixels = 1500
		_, err := r.th.Thumbnail(context.Background(), r.content(t, "big", "image/png", encodePNG(t, 50, 50)), spec)
		if !errors.Is(err, merr.ErrTooLarge) || merr.CodeOf(err) != merr.CodeTooLarge {
			t.Errorf("over max_image_pixels: err = %v", err)
		}
	})
}

// TestThumbnail_AnimatedGIF: animated=true on a small animated GIF gets
// the animation itself; without it, a still PNG.
func TestThumbnail_AnimatedGIF(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		r := newRig(t, db, false)
		g := &gif.GIF{}
		for i := range 3 {
			p := image.NewPaletted(image.Rect(0, 0, 30, 20), color.Palette{color.Black, color.White})
			p.Pix[i] = 1
			g.Image, g.Delay = append(g.Image, p), append(g.Delay, 5)
		}
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, g); err != nil {
			t.Fatal(err)
		}
		c := r.content(t, "anim", "image/gif", b.Bytes())
		if _, ct, data := r.thumbnail(t, c, media.ThumbnailSpec{Width: 96, Height: 96, Method: "crop", Animated: true}); ct != "image/gif" || !bytes.Equal(data, b.Bytes()) {
			t.Errorf("animated=true: got %s, want the original GIF", ct)
		}
		if _, ct, _ := r.thumbnail(t, c, media.ThumbnailSpec{Width: 96, Height: 96, Method: "crop"}); ct != "image/png" {
			t.Errorf("animated absent: got %s, want image/png", ct)
		}
	})
}

// TestThumbnail_DeletedWithTheirMedia: deleting media (the admin API,
// retention, the remote cache purge) deletes its thumbnails' records and
// files too, except a file some upload still uses.
func TestThumbnail_DeletedWithTheirMedia(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		r := newRig(t, db, false)
		ms, err := mediastore.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		svc := media.New(media.Config{ServerName: "hs.test", Store: ms, Blobs: r.blobs, MaxUploadSize: 1 << 20, Thumbnailer: r.th})
		id, err := svc.Upload(ctx, "@a:hs.test", "image/png", "a.png", bytes.NewReader(encodePNG(t, 200, 100)))
		if err != nil {
			t.Fatal(err)
		}
		thumbOf := func(mediaID string, w, h int) *thumbnailstore.Thumbnail {
			c, err := svc.Open(ctx, "hs.test", mediaID, media.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Object.Close()
			th, err := r.th.Thumbnail(ctx, c, media.ThumbnailSpec{Width: w, Height: h, Method: "crop"})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(th.Body)
			th.Body.Close()
			row, err := r.store.Get(ctx, "hs.test", mediaID, w, h, "crop", "image/png")
			if err != nil || row == nil {
				t.Fatalf("thumbnail not recorded: %v", err)
			}
			// Someone uploads the 96x96 thumbnail's exact bytes as media.
			if w == 96 {
				if _, err := svc.Upload(ctx, "@b:hs.test", "image/png", "copy.png", bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
			}
			return row
		}
		small, big := thumbOf(id, 32, 32), thumbOf(id, 96, 96)
		if err := svc.Delete(ctx, "hs.test", id); err != nil {
			t.Fatal(err)
		}
		if row, _ := r.store.Get(ctx, "hs.test", id, 32, 32, "crop", "image/png"); row != nil {
			t.Error("the thumbnail record outlived its media")
		}
		if _, err := r.blobs.Stat(ctx, small.SHA256); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("the 32x32 thumbnail's file outlived its media: %v", err)
		}
		if _, err := r.blobs.Stat(ctx, big.SHA256); err != nil {
			t.Errorf("a file an upload still uses was deleted: %v", err)
		}
	})
}
