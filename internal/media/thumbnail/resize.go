package thumbnail

import (
	"image"
	"image/draw"

	xdraw "golang.org/x/image/draw"
)

// maxCatmullRomPixels bounds the outputs enlarged with CatmullRom, whose
// scratch buffer is 32 bytes per output column per source row; larger
// enlargements use the bilinear sampler, which needs none.
const maxCatmullRomPixels = 1 << 20

// resize draws r of img into a new tw×th image. Shrinking averages the
// source pixels under each output pixel (a box filter, like Pillow's
// reduce) one source row at a time, so the only memory besides the output
// is one row of the source and one of sums: the resampling libraries'
// separable kernels would hold a float64 scratch image of tw × source
// height, which for a tall image within max_image_pixels is gigabytes.
// Enlarging (a crop bigger than the image) interpolates.
func resize(img image.Image, r image.Rectangle, tw, th int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	sw, sh := r.Dx(), r.Dy()
	switch {
	case sw >= tw && sh >= th:
		boxReduce(dst, img, r)
	case tw*th <= maxCatmullRomPixels:
		xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, r, xdraw.Src, nil)
	default:
		xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, r, xdraw.Src, nil)
	}
	return dst
}

// boxReduce fills dst with the averages of the source pixels of r that
// fall in each of its pixels (premultiplied, so transparent pixels do not
// darken their neighbours). r is at least as large as dst both ways.
func boxReduce(dst *image.RGBA, img image.Image, r image.Rectangle) {
	sw, sh := r.Dx(), r.Dy()
	tw, th := dst.Rect.Dx(), dst.Rect.Dy()
	row := image.NewRGBA(image.Rect(0, 0, sw, 1))
	// col[x] is the output column of source column x.
	col := make([]int, sw)
	for x := range col {
		col[x] = x * tw / sw
	}
	sums := make([]uint64, 4*tw)
	counts := make([]uint64, tw)
	flush := func(oy int) {
		out := dst.Pix[oy*dst.Stride:]
		for ox := range tw {
			n := counts[ox]
			for c := range 4 {
				out[4*ox+c] = uint8((sums[4*ox+c] + n/2) / n)
				sums[4*ox+c] = 0
			}
			counts[ox] = 0
		}
	}
	oy := 0
	for y := range sh {
		if ny := y * th / sh; ny != oy {
			flush(oy)
			oy = ny
		}
		draw.Draw(row, row.Rect, img, image.Pt(r.Min.X, r.Min.Y+y), draw.Src)
		pix := row.Pix
		for x := range sw {
			ox := col[x]
			sums[4*ox] += uint64(pix[4*x])
			sums[4*ox+1] += uint64(pix[4*x+1])
			sums[4*ox+2] += uint64(pix[4*x+2])
			sums[4*ox+3] += uint64(pix[4*x+3])
			counts[ox]++
		}
	}
	flush(oy)
}

// overWhite composites a premultiplied image onto white in place, for
// JPEG, which has no alpha: transparent pixels become white, not black.
func overWhite(m *image.RGBA) {
	for i := 0; i+3 < len(m.Pix); i += 4 {
		t := 255 - m.Pix[i+3]
		m.Pix[i] += t
		m.Pix[i+1] += t
		m.Pix[i+2] += t
		m.Pix[i+3] = 255
	}
}
