package thumbnail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"runtime"
	"testing"

	"golang.org/x/image/webp"
)

// gradient is a w×h test picture; with alpha its left half is transparent.
func gradient(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, a})
		}
	}
	return img
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h, false), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, w, h int, alpha bool) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h, alpha)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func paletted(w, h, shift int) *image.Paletted {
	p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	for y := range h {
		for x := range w {
			p.Set(x, y, color.RGBA{uint8((x + shift) * 255 / w), uint8(y * 255 / h), 64, 255})
		}
	}
	return p
}

func encodeGIF(t testing.TB, w, h, frames int) []byte {
	g := &gif.GIF{}
	for i := range frames {
		g.Image = append(g.Image, paletted(w, h, i*10))
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generate(data []byte, contentType string, req Request) (*Thumbnail, error) {
	return Generate(bytes.NewReader(data), int64(len(data)), contentType, req, Limits{})
}

// decodeOutput decodes a thumbnail as a client would, by its content type.
func decodeOutput(t *testing.T, th *Thumbnail) image.Image {
	t.Helper()
	var img image.Image
	var err error
	switch th.ContentType {
	case JPEG:
		img, err = jpeg.Decode(bytes.NewReader(th.Data))
	case PNG:
		img, err = png.Decode(bytes.NewReader(th.Data))
	case "image/gif":
		img, err = gif.Decode(bytes.NewReader(th.Data))
	case "image/webp":
		var cfg image.Config
		cfg, err = webp.DecodeConfig(bytes.NewReader(th.Data))
		img = image.NewGray(image.Rect(0, 0, cfg.Width, cfg.Height))
	default:
		t.Fatalf("unexpected content type %q", th.ContentType)
	}
	if err != nil {
		t.Fatalf("thumbnail does not decode as %s: %v", th.ContentType, err)
	}
	return img
}

// TestGenerate_SizesAndTypes: each input format gives Synapse's output
// type; scale fits the box keeping the aspect ratio and never enlarges;
// crop fills the box exactly.
func TestGenerate_SizesAndTypes(t *testing.T) {
	jpg := encodeJPEG(t, 640, 480)
	pngAlpha := encodePNG(t, 300, 100, true)
	gifStill := encodeGIF(t, 200, 150, 1)
	webpLossy := readFixture(t, "photo-300x200.webp")
	webpAlpha := readFixture(t, "alpha-64x48.lossless.webp")
	tests := []struct {
		name        string
		data        []byte
		contentType string
		req         Request
		wantType    string
		wantW       int
		wantH       int
	}{
		{"jpeg scale to 320x240", jpg, "image/jpeg", Request{320, 240, Scale, false}, JPEG, 320, 240},
		{"jpeg scale keeps aspect in a square box", jpg, "image/jpeg", Request{96, 96, Scale, false}, JPEG, 96, 72},
		{"jpeg crop fills the box", jpg, "image/jpeg", Request{96, 96, Crop, false}, JPEG, 96, 96},
		{"image/jpg is jpeg too", jpg, "image/jpg", Request{32, 32, Crop, false}, JPEG, 32, 32},
		{"png scale never enlarges", pngAlpha, "image/png", Request{800, 600, Scale, false}, PNG, 300, 100},
		{"png scale to a narrow box", pngAlpha, "image/png", Request{100, 100, Scale, false}, PNG, 100, 33},
		{"png crop to a tall box", pngAlpha, "image/png", Request{30, 60, Crop, false}, PNG, 30, 60},
		{"png with content type parameters", pngAlpha, "image/png; charset=binary", Request{32, 32, Crop, false}, PNG, 32, 32},
		{"gif gives png", gifStill, "image/gif", Request{96, 96, Scale, false}, PNG, 96, 72},
		{"gif crop", gifStill, "image/gif", Request{32, 32, Crop, false}, PNG, 32, 32},
		{"lossy webp gives jpeg", webpLossy, "image/webp", Request{150, 150, Scale, false}, JPEG, 150, 100},
		{"lossy webp crop", webpLossy, "image/webp", Request{96, 96, Crop, false}, JPEG, 96, 96},
		{"webp with alpha gives jpeg", webpAlpha, "image/webp", Request{32, 32, Scale, false}, JPEG, 32, 24},
		{"crop may enlarge, as in Synapse", webpAlpha, "image/webp", Request{96, 96, Crop, false}, JPEG, 96, 96},
		{"decoder follows the bytes, type follows the declaration", encodePNG(t, 50, 50, false), "image/jpeg", Request{20, 20, Scale, false}, JPEG, 20, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := generate(tt.data, tt.contentType, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if th.ContentType != tt.wantType {
				t.Errorf("content type %q, want %q", th.ContentType, tt.wantType)
			}
			if th.Width != tt.wantW || th.Height != tt.wantH {
				t.Errorf("reported %dx%d, want %dx%d", th.Width, th.Height, tt.wantW, tt.wantH)
			}
			b := decodeOutput(t, th).Bounds()
			if b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("decoded %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			if th.Animated {
				t.Error("a still image came back as animated")
			}
		})
	}
}

// TestGenerate_PNGKeepsTransparency: a PNG thumbnail of a transparent
// image is still transparent where the source was.
func TestGenerate_PNGKeepsTransparency(t *testing.T) {
	th, err := generate(encodePNG(t, 100, 100, true), "image/png", Request{50, 50, Scale, false})
	if err != nil {
		t.Fatal(err)
	}
	img := decodeOutput(t, th)
	if _, _, _, a := img.At(5, 25).RGBA(); a != 0 {
		t.Errorf("left half alpha %d, want 0", a)
	}
	if _, _, _, a := img.At(45, 25).RGBA(); a != 0xffff {
		t.Errorf("right half alpha %d, want opaque", a)
	}
}

// TestGenerate_CropKeepsTheCentre: crop cuts the overflow evenly from both
// sides, as Synapse's Thumbnailer.crop does.
func TestGenerate_CropKeepsTheCentre(t *testing.T) {
	// 300×100: a red left third, green middle, blue right third.
	src := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := range 100 {
		for x := range 300 {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= 100 && x < 200 {
				c = color.NRGBA{0, 255, 0, 255}
			} else if x >= 200 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			src.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	th, err := generate(b.Bytes(), "image/png", Request{50, 50, Crop, false})
	if err != nil {
		t.Fatal(err)
	}
	img := decodeOutput(t, th)
	for _, p := range []image.Point{{2, 2}, {25, 25}, {47, 47}} {
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		if g>>8 < 200 || r>>8 > 50 || bl>>8 > 50 {
			t.Errorf("pixel %v is %d,%d,%d; want the green middle", p, r>>8, g>>8, bl>>8)
		}
	}
}

// TestGenerate_Animated: with animated=true an animated GIF or WebP that
// already fits the box is returned as it is; otherwise, and always when
// animated is false (spec: the server MUST NOT return an animated
// thumbnail), the thumbnail is a still of the first frame.
func TestGenerate_Animated(t *testing.T) {
	anim := encodeGIF(t, 40, 30, 3)
	animWebP := readFixture(t, "animated-40x30.webp")
	tests := []struct {
		name         string
		data         []byte
		contentType  string
		req          Request
		wantType     string
		wantW, wantH int
		wantAnimated bool
	}{
		{"animated gif passes through", anim, "image/gif", Request{96, 96, Scale, true}, "image/gif", 40, 30, true},
		{"animated webp passes through", animWebP, "image/webp", Request{96, 96, Crop, true}, "image/webp", 40, 30, true},
		{"animated=false gives a still", anim, "image/gif", Request{96, 96, Scale, false}, PNG, 40, 30, false},
		{"too large for the box gives a still", anim, "image/gif", Request{32, 32, Crop, true}, PNG, 32, 32, false},
		{"a still gif is never animated", encodeGIF(t, 40, 30, 1), "image/gif", Request{96, 96, Scale, true}, PNG, 40, 30, false},
		{"animated=true on a jpeg acts as false", encodeJPEG(t, 40, 30), "image/jpeg", Request{96, 96, Scale, true}, JPEG, 40, 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := generate(tt.data, tt.contentType, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if th.ContentType != tt.wantType || th.Animated != tt.wantAnimated {
				t.Errorf("got %q animated=%v, want %q animated=%v", th.ContentType, th.Animated, tt.wantType, tt.wantAnimated)
			}
			b := decodeOutput(t, th).Bounds()
			if b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("decoded %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			if tt.wantAnimated && !bytes.Equal(th.Data, tt.data) {
				t.Error("passthrough changed the bytes")
			}
		})
	}
}

// TestGenerate_AnimatedWebPStill: an animated WebP asked for without
// animation gets a still of its first frame.
func TestGenerate_AnimatedWebPStill(t *testing.T) {
	th, err := generate(readFixture(t, "animated-40x30.webp"), "image/webp", Request{20, 20, Scale, false})
	if err != nil {
		t.Fatal(err)
	}
	if th.ContentType != JPEG || th.Width != 20 || th.Height != 15 {
		t.Errorf("got %s %dx%d, want image/jpeg 20x15", th.ContentType, th.Width, th.Height)
	}
	decodeOutput(t, th)
}

// TestGenerate_Refusals: unsupported types, garbage, and impossible
// requests fail with the error the media service maps to 400.
func TestGenerate_Refusals(t *testing.T) {
	jpg := encodeJPEG(t, 64, 64)
	tests := []struct {
		name        string
		data        []byte
		contentType string
		req         Request
		want        error
	}{
		{"svg is not thumbnailed", []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), "image/svg+xml", Request{32, 32, Crop, false}, ErrUnsupported},
		{"pdf is not thumbnailed", []byte("%PDF-1.4"), "application/pdf", Request{32, 32, Crop, false}, ErrUnsupported},
		{"text claiming to be png", []byte("hello, world"), "image/png", Request{32, 32, Crop, false}, ErrUnsupported},
		{"truncated jpeg", jpg[:len(jpg)/2], "image/jpeg", Request{32, 32, Crop, false}, ErrDecode},
		{"empty file", nil, "image/png", Request{32, 32, Crop, false}, ErrUnsupported},
		{"unknown method", jpg, "image/jpeg", Request{32, 32, "stretch", false}, ErrInvalidSize},
		{"zero width", jpg, "image/jpeg", Request{0, 32, Scale, false}, ErrInvalidSize},
		{"negative height", jpg, "image/jpeg", Request{32, -1, Scale, false}, ErrInvalidSize},
		{"huge box", jpg, "image/jpeg", Request{MaxDimension + 1, 32, Crop, false}, ErrInvalidSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := generate(tt.data, tt.contentType, tt.req)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	return b.Bytes()
}

// pngBomb is a valid PNG header declaring w×h RGBA pixels, followed by a
// few bytes of image data: tiny on disk, gigabytes when decoded.
func pngBomb(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, pngChunk("IHDR", ihdr)...)
	b = append(b, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(b, pngChunk("IEND", nil)...)
}

// jpegBomb is a JPEG start, a baseline frame header declaring w×h and the
// start of a scan.
func jpegBomb(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08}
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 0x01, 0x01, 0x11, 0x00)
	return append(b, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xff, 0xd9)
}

// gifBomb is a GIF header declaring a w×h logical screen and a frame of
// the same size.
func gifBomb(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x00, 0x00, 0x00, 0x2c, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0x00, 0x02, 0x02, 0x4c, 0x01, 0x00, 0x3b)
}

// webpBomb is an extended-format WebP header declaring a w×h canvas
// (the largest a VP8X header can say is 16384×16384).
func webpBomb(w, h uint32) []byte {
	vp8x := make([]byte, 10)
	vp8x[4], vp8x[5], vp8x[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	vp8x[7], vp8x[8], vp8x[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	body := append([]byte("WEBPVP8X"), 10, 0, 0, 0)
	body = append(body, vp8x...)
	body = append(body, []byte("VP8L\x05\x00\x00\x00\x2f\x00\x00\x00\x00\x00")...)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// TestGenerate_DecompressionBombRefused: an image whose header declares
// more than max_image_pixels is refused from its header alone, without
// allocating its pixels (Synapse's max_image_pixels, default 32M).
func TestGenerate_DecompressionBombRefused(t *testing.T) {
	tests := []struct {
		name        string
		data        []byte
		contentType string
	}{
		{"png 100000x100000", pngBomb(100000, 100000), "image/png"},
		{"png 6000x6000 (36M pixels)", pngBomb(6000, 6000), "image/png"},
		{"jpeg 65535x65535", jpegBomb(65535, 65535), "image/jpeg"},
		{"gif 65535x65535", gifBomb(65535, 65535), "image/gif"},
		{"webp 16384x16384", webpBomb(16384, 16384), "image/webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := generate(tt.data, tt.contentType, Request{32, 32, Crop, false})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("err = %v, want ErrTooManyPixels", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
				t.Errorf("refusing the bomb allocated %d bytes; the header alone should suffice", got)
			}
		})
	}
}

// TestGenerate_MaxImagePixelsConfigurable: the limit is the operator's.
func TestGenerate_MaxImagePixelsConfigurable(t *testing.T) {
	data := encodePNG(t, 100, 100, false)
	if _, err := Generate(bytes.NewReader(data), int64(len(data)), "image/png", Request{32, 32, Crop, false}, Limits{MaxImagePixels: 9999}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("10000 pixels under a 9999 limit: err = %v", err)
	}
	if _, err := Generate(bytes.NewReader(data), int64(len(data)), "image/png", Request{32, 32, Crop, false}, Limits{MaxImagePixels: 10000}); err != nil {
		t.Errorf("10000 pixels under a 10000 limit: %v", err)
	}
}

// TestSize: Synapse's aspect arithmetic, and its clamp for scale.
func TestSize(t *testing.T) {
	tests := []struct {
		w, h   int
		req    Request
		tw, th int
	}{
		{640, 480, Request{Width: 320, Height: 240, Method: Scale}, 320, 240},
		{640, 480, Request{Width: 800, Height: 600, Method: Scale}, 640, 480},
		{1000, 10, Request{Width: 96, Height: 96, Method: Scale}, 96, 1},
		{10, 1000, Request{Width: 96, Height: 96, Method: Scale}, 1, 96},
		{10, 1000, Request{Width: 96, Height: 96, Method: Crop}, 96, 96},
	}
	for _, tt := range tests {
		if tw, th := Size(tt.w, tt.h, tt.req); tw != tt.tw || th != tt.th {
			t.Errorf("Size(%d, %d, %+v) = %dx%d, want %dx%d", tt.w, tt.h, tt.req, tw, th, tt.tw, tt.th)
		}
	}
}

// TestOutputType is Synapse's THUMBNAIL_SUPPORTED_MEDIA_FORMAT_MAP.
func TestOutputType(t *testing.T) {
	for in, want := range map[string]string{
		"image/jpeg": JPEG, "image/jpg": JPEG, "image/webp": JPEG, "IMAGE/PNG": PNG,
		"image/gif": PNG, "image/png; charset=binary": PNG, "image/svg+xml": "", "video/mp4": "", "": "",
	} {
		got, ok := OutputType(in)
		if got != want || ok != (want != "") {
			t.Errorf("OutputType(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestGenerate_TallImageMemoryBounded: shrinking a 2×4M image (within the
// pixel limit) needs about its decoded size, not the gigabyte-scale
// scratch space of a separable resampler sized output width × source
// height.
func TestGenerate_TallImageMemoryBounded(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 2, 4<<20))
	for i := range src.Pix {
		src.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	th, err := generate(data, "image/png", Request{96, 96, Scale, false})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if th.Width != 1 || th.Height != 96 {
		t.Errorf("got %dx%d, want 1x96", th.Width, th.Height)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("allocated %d MiB for an 8 MiB image", got>>20)
	}
}

// withOrientation inserts an Exif APP1 segment holding the Orientation
// tag (big- or little-endian TIFF) after a JPEG's start marker.
func withOrientation(jpg []byte, o uint16, little bool) []byte {
	var bo binary.AppendByteOrder = binary.BigEndian
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	if little {
		bo = binary.LittleEndian
		tiff = []byte("II\x2a\x00\x08\x00\x00\x00")
	}
	tiff = bo.AppendUint16(tiff, 2) // two entries: another tag, then Orientation
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint32(tiff, 0)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(len(seg)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, app1...), seg...)
	return append(out, jpg[2:]...)
}

// TestGenerate_ExifOrientation: a JPEG stored turned is thumbnailed as it
// is shown (Synapse's Thumbnailer.transpose). The stored 80×40 image is
// red on its left half; shown per each orientation, the red half is:
func TestGenerate_ExifOrientation(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 80, 40))
	for y := range 40 {
		for x := range 80 {
			c := color.RGBA{0, 0, 255, 255}
			if x < 40 {
				c = color.RGBA{255, 0, 0, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, src, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		o            uint16
		wantW, wantH int
		redAt        image.Point // a point of the shown thumbnail that is red
		blueAt       image.Point
	}{
		{1, 40, 20, image.Pt(5, 10), image.Pt(35, 10)},
		{2, 40, 20, image.Pt(35, 10), image.Pt(5, 10)}, // mirrored: red on the right
		{3, 40, 20, image.Pt(35, 10), image.Pt(5, 10)}, // upside down
		{6, 20, 40, image.Pt(10, 5), image.Pt(10, 35)}, // a quarter clockwise: red on top
		{8, 20, 40, image.Pt(10, 35), image.Pt(10, 5)}, // a quarter anticlockwise: red below
		{5, 20, 40, image.Pt(10, 5), image.Pt(10, 35)}, // transposed
		{7, 20, 40, image.Pt(10, 35), image.Pt(10, 5)}, // transversed
		{9, 40, 20, image.Pt(5, 10), image.Pt(35, 10)}, // out of range: as stored
	}
	for _, tt := range tests {
		for _, little := range []bool{false, true} {
			th, err := generate(withOrientation(b.Bytes(), tt.o, little), "image/jpeg", Request{40, 40, Scale, false})
			if err != nil {
				t.Fatal(err)
			}
			img := decodeOutput(t, th)
			if bb := img.Bounds(); bb.Dx() != tt.wantW || bb.Dy() != tt.wantH || th.Width != tt.wantW || th.Height != tt.wantH {
				t.Errorf("orientation %d: %v (reported %dx%d), want %dx%d", tt.o, bb, th.Width, th.Height, tt.wantW, tt.wantH)
				continue
			}
			if r, _, bl, _ := img.At(tt.redAt.X, tt.redAt.Y).RGBA(); r>>8 < 200 || bl>>8 > 60 {
				t.Errorf("orientation %d: %v is not red", tt.o, tt.redAt)
			}
			if r, _, bl, _ := img.At(tt.blueAt.X, tt.blueAt.Y).RGBA(); bl>>8 < 200 || r>>8 > 60 {
				t.Errorf("orientation %d: %v is not blue", tt.o, tt.blueAt)
			}
		}
	}
}
