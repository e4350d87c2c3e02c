// Package thumbnail makes thumbnails of stored images, as the content
// repository's thumbnail endpoints need them (client-server-api "Content
// repository", GET /_matrix/client/v1/media/thumbnail). It is pure: no
// HTTP, no SQL, no clock; the media service feeds it stored content and
// stores what it returns.
//
// Where the spec is silent it follows Synapse (synapse/media/thumbnailer.py
// and synapse/config/repository.py):
//
//   - Input: JPEG, PNG, GIF and WebP; the output type is chosen from the
//     declared content type by Synapse's THUMBNAIL_SUPPORTED_MEDIA_FORMAT_MAP:
//     image/jpeg, image/jpg and image/webp give image/jpeg; image/png and
//     image/gif give image/png (PNG keeps GIF transparency). Anything else
//     is ErrUnsupported, which Synapse answers with 400 "Failed to generate
//     thumbnail.".
//   - "scale" keeps the aspect ratio and fits the image inside the box,
//     never enlarging it (Synapse clamps to the source size).
//   - "crop" fills the box exactly and cuts the overflow evenly from both
//     sides, as Synapse does; unlike Synapse it crops the source before
//     resizing, so a very long thin image never needs a huge intermediate.
//   - Resampling: Synapse uses Pillow's Lanczos filter. Here shrinking
//     averages the source pixels under each output pixel (resize.go), in
//     memory bounded by one source row, and enlarging interpolates with
//     CatmullRom; at thumbnail sizes the difference is not visible.
//   - A JPEG's Exif Orientation is applied, as Synapse applies it.
//   - JPEG is written at quality 80, as Synapse writes it.
//   - max_image_pixels (default 32M) is checked against the dimensions in
//     the header before anything is decoded, so a decompression bomb costs
//     a header read, not its declared memory.
//
// Animation (the spec's `animated` parameter, v1.11): Synapse never
// produces animated thumbnails. Myelin returns the original bytes of an
// animated GIF or WebP when animated=true was asked for and the original
// already fits the requested box and is at most MaxPassthroughBytes: the
// client gets its animation without the server re-encoding every frame.
// In every other case the thumbnail is the static first frame, which is
// what the spec requires when animated is false or absent.
package thumbnail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Method is how a thumbnail fits its box.
type Method string

// The two methods of the spec.
const (
	Scale Method = "scale"
	Crop  Method = "crop"
)

// DefaultMaxImagePixels is Synapse's default max_image_pixels (32M).
const DefaultMaxImagePixels = 32 << 20

// MaxDimension bounds each side of a requested thumbnail, whatever the
// pixel limit: a request for a 100000-pixel-wide crop is refused, not
// allocated.
const MaxDimension = 8192

// MaxPassthroughBytes bounds the size of an animated original returned as
// its own thumbnail.
const MaxPassthroughBytes = 4 << 20

// JPEG and PNG are the output content types.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
)

// Errors. The media service maps them to Matrix errors: all of them are
// "Failed to generate thumbnail." (400) for a client, as in Synapse.
var (
	// ErrUnsupported: the content type cannot be thumbnailed, or the bytes
	// are not an image of a supported format.
	ErrUnsupported = errors.New("thumbnail: unsupported media type")
	// ErrTooManyPixels: the image declares more pixels than
	// max_image_pixels (a decompression bomb, or just too big).
	ErrTooManyPixels = errors.New("thumbnail: image exceeds max_image_pixels")
	// ErrInvalidSize: the requested width, height or method is not usable.
	ErrInvalidSize = errors.New("thumbnail: invalid thumbnail size or method")
	// ErrDecode: the image header was fine but its data is corrupt.
	ErrDecode = errors.New("thumbnail: cannot decode image")
)

// Request is one thumbnail to make.
type Request struct {
	Width, Height int
	Method        Method
	// Animated asks for an animated thumbnail where possible (see the
	// package comment).
	Animated bool
}

// Limits bound the work done for one image.
type Limits struct {
	// MaxImagePixels is Synapse's max_image_pixels; 0 means the default.
	MaxImagePixels int64
}

func (l Limits) maxPixels() int64 {
	if l.MaxImagePixels <= 0 {
		return DefaultMaxImagePixels
	}
	return l.MaxImagePixels
}

// Thumbnail is a finished thumbnail.
type Thumbnail struct {
	Data        []byte
	ContentType string
	Width       int
	Height      int
	// Animated is true when Data is the animated original.
	Animated bool
}

// OutputType is the content type Synapse gives a thumbnail of media of
// contentType (parameters such as "; charset" are ignored), and false when
// such media cannot be thumbnailed.
func OutputType(contentType string) (string, bool) {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "image/jpeg", "image/jpg", "image/webp":
		return JPEG, true
	case "image/png", "image/gif":
		return PNG, true
	}
	return "", false
}

// Size is the size of the thumbnail req would produce from a w×h image,
// the arithmetic of Synapse's Thumbnailer.aspect and its clamp for scale.
func Size(w, h int, req Request) (int, int) {
	if req.Method == Crop {
		return req.Width, req.Height
	}
	tw, th := aspect(w, h, req.Width, req.Height)
	return min(tw, w), min(th, h)
}

// aspect is the largest size with the aspect ratio of w×h that fits
// maxW×maxH, at least 1×1.
func aspect(w, h, maxW, maxH int) (int, int) {
	if int64(maxW)*int64(h) < int64(maxH)*int64(w) {
		return maxW, max(int(int64(maxW)*int64(h)/int64(w)), 1)
	}
	return max(int(int64(maxH)*int64(w)/int64(h)), 1), maxH
}

func (r Request) check(lim Limits) error {
	if r.Method != Scale && r.Method != Crop {
		return fmt.Errorf("%w: method %q is neither scale nor crop", ErrInvalidSize, r.Method)
	}
	if r.Width < 1 || r.Height < 1 || r.Width > MaxDimension || r.Height > MaxDimension {
		return fmt.Errorf("%w: %dx%d is outside 1..%d", ErrInvalidSize, r.Width, r.Height, MaxDimension)
	}
	if int64(r.Width)*int64(r.Height) > lim.maxPixels() {
		return fmt.Errorf("%w: %dx%d exceeds max_image_pixels", ErrInvalidSize, r.Width, r.Height)
	}
	return nil
}

// Header is what an image declares about itself, read without decoding
// its pixels.
type Header struct {
	Format        string // "jpeg", "png", "gif" or "webp"
	Width, Height int
	Animated      bool
}

// ReadHeader reads the format and dimensions of the image in src and
// refuses it when it declares more than lim's pixels. It reads only the
// headers (for a GIF, the block structure, to count frames).
func ReadHeader(src io.ReaderAt, size int64, lim Limits) (Header, error) {
	var magic [32]byte
	n, _ := src.ReadAt(magic[:], 0)
	format := sniff(magic[:n])
	if format == "" {
		return Header{}, fmt.Errorf("%w: not a JPEG, PNG, GIF or WebP image", ErrUnsupported)
	}
	r := bufio.NewReader(io.NewSectionReader(src, 0, size))
	var cfg image.Config
	var err error
	switch format {
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(r)
	case "png":
		cfg, err = png.DecodeConfig(r)
	case "gif":
		cfg, err = gif.DecodeConfig(r)
	case "webp":
		cfg, err = webp.DecodeConfig(r)
	}
	if err != nil {
		return Header{}, fmt.Errorf("%w: %s header: %v", ErrDecode, format, err)
	}
	h := Header{Format: format, Width: cfg.Width, Height: cfg.Height}
	if h.Width < 1 || h.Height < 1 {
		return Header{}, fmt.Errorf("%w: %s declares %dx%d", ErrDecode, format, h.Width, h.Height)
	}
	if int64(h.Width)*int64(h.Height) > lim.maxPixels() {
		return Header{}, fmt.Errorf("%w: %dx%d is more than %d pixels", ErrTooManyPixels, h.Width, h.Height, lim.maxPixels())
	}
	switch format {
	case "gif":
		h.Animated = gifAnimated(io.NewSectionReader(src, 0, size))
	case "webp":
		h.Animated = webpAnimated(magic[:n])
	}
	return h, nil
}

// Generate makes the thumbnail req asks for of the image of size bytes in
// src, declared as contentType.
func Generate(src io.ReaderAt, size int64, contentType string, req Request, lim Limits) (*Thumbnail, error) {
	outType, ok := OutputType(contentType)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, contentType)
	}
	if err := req.check(lim); err != nil {
		return nil, err
	}
	h, err := ReadHeader(src, size, lim)
	if err != nil {
		return nil, err
	}
	if req.Animated && h.Animated && h.Width <= req.Width && h.Height <= req.Height && size <= MaxPassthroughBytes {
		data := make([]byte, size)
		if _, err := src.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("thumbnail: reading original: %w", err)
		}
		ct := "image/gif"
		if h.Format == "webp" {
			ct = "image/webp"
		}
		return &Thumbnail{Data: data, ContentType: ct, Width: h.Width, Height: h.Height, Animated: true}, nil
	}
	img, err := decodeStill(src, size, h)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if h.Format == "gif" && b != image.Rect(0, 0, h.Width, h.Height) && b.In(image.Rect(0, 0, h.Width, h.Height)) {
		// A first frame smaller than the logical screen sits on a
		// transparent canvas of the screen's size.
		canvas := image.NewNRGBA(image.Rect(0, 0, h.Width, h.Height))
		draw.Draw(canvas, b, img, b.Min, draw.Src)
		img, b = canvas, canvas.Bounds()
	}
	if b.Dx() != h.Width || b.Dy() != h.Height {
		// A decoder that disagrees with its own header could have
		// allocated past the limit; never trust such a file further.
		return nil, fmt.Errorf("%w: decoded %dx%d but the header said %dx%d", ErrDecode, b.Dx(), b.Dy(), h.Width, h.Height)
	}
	// A photo stored turned (Exif Orientation) is thumbnailed as shown:
	// made from the stored pixels in a box turned the same way, then
	// turned itself.
	orientation := 1
	if h.Format == "jpeg" {
		orientation = jpegOrientation(src, size)
	}
	box := req
	if swapsSides(orientation) {
		box.Width, box.Height = req.Height, req.Width
	}
	tw, th := Size(h.Width, h.Height, box)
	srcRect := b
	if req.Method == Crop {
		srcRect = cropRect(b, tw, th)
	}
	dst := orient(resize(img, srcRect, tw, th), orientation)
	tw, th = dst.Rect.Dx(), dst.Rect.Dy()
	if outType == JPEG {
		overWhite(dst)
	}
	var buf bytes.Buffer
	if outType == JPEG {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80})
	} else {
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, dst)
	}
	if err != nil {
		return nil, fmt.Errorf("thumbnail: encoding %s: %w", outType, err)
	}
	return &Thumbnail{Data: buf.Bytes(), ContentType: outType, Width: tw, Height: th}, nil
}

// cropRect is the centred part of b with the aspect ratio of tw×th: the
// part of the source that Synapse's scale-then-crop keeps.
func cropRect(b image.Rectangle, tw, th int) image.Rectangle {
	w, h := int64(b.Dx()), int64(b.Dy())
	if int64(tw)*h > int64(th)*w {
		// The box is wider than the image: keep the full width and the
		// middle rows.
		ch := max(w*int64(th)/int64(tw), 1)
		top := (h - ch) / 2
		return image.Rect(b.Min.X, b.Min.Y+int(top), b.Max.X, b.Min.Y+int(top+ch))
	}
	cw := max(h*int64(tw)/int64(th), 1)
	left := (w - cw) / 2
	return image.Rect(b.Min.X+int(left), b.Min.Y, b.Min.X+int(left+cw), b.Max.Y)
}

// decodeStill decodes the image, or the first frame of an animation,
// whose header ReadHeader has accepted.
func decodeStill(src io.ReaderAt, size int64, h Header) (image.Image, error) {
	if h.Format != "webp" || !h.Animated {
		return decode(h.Format, bufio.NewReader(io.NewSectionReader(src, 0, size)))
	}
	frame, at, err := webpFirstFrame(src, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	cfg, err := webp.DecodeConfig(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("%w: webp frame: %v", ErrDecode, err)
	}
	canvas := image.Rect(0, 0, h.Width, h.Height)
	fr := image.Rectangle{Min: at, Max: at.Add(image.Pt(cfg.Width, cfg.Height))}
	if !fr.In(canvas) {
		return nil, fmt.Errorf("%w: webp frame %v outside the %v canvas", ErrDecode, fr, canvas)
	}
	img, err := decode("webp", bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	if fr == canvas {
		return img, nil
	}
	out := image.NewNRGBA(canvas)
	draw.Draw(out, fr, img, img.Bounds().Min, draw.Src)
	return out, nil
}

func decode(format string, r io.Reader) (img image.Image, err error) {
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(r)
	case "png":
		img, err = png.Decode(r)
	case "gif":
		// The first frame only: gif.Decode stops there, so the frames of
		// a long animation are never held in memory.
		img, err = gif.Decode(r)
	case "webp":
		img, err = webp.Decode(r)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecode, format, err)
	}
	return img, nil
}
