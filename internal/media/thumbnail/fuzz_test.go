package thumbnail

import (
	"bytes"
	"testing"
)

// FuzzGenerate: whatever the bytes and the request, Generate returns an
// error or a thumbnail of the size it reports, and never panics or
// allocates past its pixel limit (a small one here, so the fuzzer runs
// fast). The kept corpus is in testdata/fuzz/FuzzGenerate.
func FuzzGenerate(f *testing.F) {
	f.Add(encodeJPEG(f, 16, 12), "image/jpeg", uint16(8), uint16(8), false, false)
	f.Add(encodePNG(f, 16, 12, true), "image/png", uint16(8), uint16(8), true, false)
	f.Add(encodeGIF(f, 16, 12, 2), "image/gif", uint16(32), uint16(32), false, true)
	f.Add(readFixture(f, "alpha-64x48.lossless.webp"), "image/webp", uint16(10), uint16(30), true, false)
	f.Add(readFixture(f, "animated-40x30.webp"), "image/webp", uint16(10), uint16(10), false, false)
	f.Add(pngBomb(5000, 5000), "image/png", uint16(8), uint16(8), true, false)
	f.Add(withOrientation(encodeJPEG(f, 16, 12), 6, true), "image/jpeg", uint16(8), uint16(4), false, false)
	f.Fuzz(func(t *testing.T, data []byte, contentType string, w, h uint16, crop, animated bool) {
		req := Request{Width: int(w), Height: int(h), Method: Scale, Animated: animated}
		if crop {
			req.Method = Crop
		}
		th, err := Generate(bytes.NewReader(data), int64(len(data)), contentType, req, Limits{MaxImagePixels: 1 << 16})
		if err != nil {
			return
		}
		if th.Width < 1 || th.Height < 1 || (!th.Animated && (th.Width > req.Width || th.Height > req.Height)) {
			t.Fatalf("thumbnail %dx%d for a %dx%d %s request", th.Width, th.Height, req.Width, req.Height, req.Method)
		}
		if crop && !th.Animated && (th.Width != req.Width || th.Height != req.Height) {
			t.Fatalf("crop gave %dx%d, want %dx%d", th.Width, th.Height, req.Width, req.Height)
		}
		if len(th.Data) == 0 {
			t.Fatal("empty thumbnail")
		}
	})
}
