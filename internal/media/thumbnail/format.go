package thumbnail

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"io"
)

// sniff names the format of an image from its first bytes, or "" when it
// is none of the four this package reads. The bytes decide the decoder,
// not the declared content type: a PNG uploaded as image/jpeg is still
// decoded as a PNG.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "gif"
	case len(b) >= 12 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:12], []byte("WEBP")):
		return "webp"
	}
	return ""
}

// webpAnimated reports whether a WebP file's first chunk is VP8X with the
// animation flag set (RFC 9649 section 2.7): the flags byte follows the
// chunk header at offset 20, animation is bit 1.
func webpAnimated(b []byte) bool {
	return len(b) >= 21 && bytes.Equal(b[12:16], []byte("VP8X")) && b[20]&0x02 != 0
}

// gifAnimated reports whether a GIF holds more than one image, walking its
// block structure (GIF89a specification, sections 17 to 27) without
// decompressing any frame. A malformed file reads as not animated; its
// decode fails later on its own.
func gifAnimated(r io.Reader) bool {
	br := bufio.NewReader(r)
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return false
	}
	if hdr[10]&0x80 != 0 { // global color table
		if _, err := br.Discard(3 << (hdr[10]&0x07 + 1)); err != nil {
			return false
		}
	}
	frames := 0
	for {
		intro, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch intro {
		case 0x21: // extension: label, then data sub-blocks
			if _, err := br.ReadByte(); err != nil || !skipSubBlocks(br) {
				return false
			}
		case 0x2C: // image descriptor
			frames++
			if frames > 1 {
				return true
			}
			var desc [9]byte
			if _, err := io.ReadFull(br, desc[:]); err != nil {
				return false
			}
			if desc[8]&0x80 != 0 { // local color table
				if _, err := br.Discard(3 << (desc[8]&0x07 + 1)); err != nil {
					return false
				}
			}
			if _, err := br.ReadByte(); err != nil || !skipSubBlocks(br) { // LZW minimum code size, data
				return false
			}
		default: // trailer (0x3B) or garbage
			return false
		}
	}
}

func skipSubBlocks(br *bufio.Reader) bool {
	for {
		n, err := br.ReadByte()
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
		if _, err := br.Discard(int(n)); err != nil {
			return false
		}
	}
}

// webpFirstFrame rebuilds the first frame of an animated WebP as a still
// WebP file, which golang.org/x/image/webp can decode (it reads no
// animations), and says where the frame sits on the canvas. The layout
// is RFC 9649 section 2.7.1: an ANMF chunk holds the frame's offset/2 and
// size-1, then the frame's own ALPH and VP8 or VP8L chunks.
func webpFirstFrame(src io.ReaderAt, size int64) ([]byte, image.Point, error) {
	off := int64(12)
	var hdr [8]byte
	for off+8 <= size {
		if _, err := src.ReadAt(hdr[:], off); err != nil {
			return nil, image.Point{}, err
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if n > size-off-8 {
			return nil, image.Point{}, errors.New("webp: chunk runs past the end of the file")
		}
		if string(hdr[:4]) != "ANMF" {
			off += 8 + n + n&1
			continue
		}
		if n < 16 {
			return nil, image.Point{}, errors.New("webp: short ANMF chunk")
		}
		frame := make([]byte, n)
		if _, err := src.ReadAt(frame, off+8); err != nil {
			return nil, image.Point{}, err
		}
		u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
		at := image.Pt(2*u24(frame[0:]), 2*u24(frame[3:]))
		w, h := u24(frame[6:])+1, u24(frame[9:])+1
		chunks := frame[16:]
		var body []byte
		if bytes.HasPrefix(chunks, []byte("ALPH")) {
			// A lossy frame with alpha needs the extended header to be
			// a valid file of its own.
			vp8x := []byte{'V', 'P', '8', 'X', 10, 0, 0, 0, 0x10, 0, 0, 0,
				byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16),
				byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
			body = append(vp8x, chunks...)
		} else {
			body = chunks
		}
		out := append([]byte("RIFF"), 0, 0, 0, 0)
		out = append(out, "WEBP"...)
		out = append(out, body...)
		binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
		return out, at, nil
	}
	return nil, image.Point{}, errors.New("webp: animation without frames")
}
