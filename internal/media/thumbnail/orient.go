package thumbnail

import (
	"encoding/binary"
	"image"
	"io"
)

// jpegOrientation reads the Exif Orientation tag (0x0112) of a JPEG, as
// Synapse applies it before thumbnailing (Thumbnailer.transpose): phones
// store photos as the sensor saw them and say how to turn them. It returns
// 1 (as stored) when there is no tag or it cannot be read. Only the
// segments before the first scan are read, each at most 64 KiB.
func jpegOrientation(src io.ReaderAt, size int64) int {
	off := int64(2)
	var hdr [4]byte
	for off+4 <= size {
		if _, err := src.ReadAt(hdr[:], off); err != nil || hdr[0] != 0xff {
			return 1
		}
		marker, n := hdr[1], int64(binary.BigEndian.Uint16(hdr[2:]))
		if marker == 0xda || marker == 0xd9 || n < 2 {
			return 1
		}
		if marker == 0xe1 && n >= 8 {
			seg := make([]byte, n-2)
			if _, err := src.ReadAt(seg, off+4); err != nil {
				return 1
			}
			if string(seg[:6]) == "Exif\x00\x00" {
				return exifOrientation(seg[6:])
			}
		}
		off += 2 + n
	}
	return 1
}

// exifOrientation finds the Orientation tag in IFD0 of a TIFF structure
// (Exif 2.32, section 4.6).
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > len(tiff) {
		return 1
	}
	count := int(bo.Uint16(tiff[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > len(tiff) {
			return 1
		}
		// Tag 0x0112, type SHORT (3), one value, stored in the entry.
		if bo.Uint16(tiff[e:]) == 0x0112 && bo.Uint16(tiff[e+2:]) == 3 {
			if v := int(bo.Uint16(tiff[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// swapsSides reports whether an orientation turns the image a quarter,
// so that the stored width is the displayed height.
func swapsSides(o int) bool { return o >= 5 }

// orient turns a thumbnail made from the stored pixels into the displayed
// orientation. Turning commutes with scaling and centred cropping, so the
// thumbnail is made first and only its few pixels are moved.
func orient(m *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	ow, oh := w, h
	if swapsSides(o) {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range oh {
		for x := range ow {
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = w-1-x, y
			case 3: // upside down
				sx, sy = w-1-x, h-1-y
			case 4: // mirrored upside down
				sx, sy = x, h-1-y
			case 5: // transposed
				sx, sy = y, x
			case 6: // turn a quarter clockwise
				sx, sy = y, h-1-x
			case 7: // transversed
				sx, sy = w-1-y, h-1-x
			case 8: // turn a quarter anticlockwise
				sx, sy = w-1-y, x
			}
			copy(out.Pix[y*out.Stride+4*x:y*out.Stride+4*x+4], m.Pix[sy*m.Stride+4*sx:])
		}
	}
	return out
}
