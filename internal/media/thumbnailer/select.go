package thumbnailer

import (
	"github.com/myelin-chat/myelin/internal/config"
	"github.com/myelin-chat/myelin/internal/media"
)

// pick is the size a request is answered with: exactly the one asked for
// with dynamic_thumbnails, else the best of thumbnail_sizes.
func (t *Thumbnailer) pick(spec media.ThumbnailSpec) (config.ThumbnailSize, bool) {
	if t.cfg.Dynamic {
		return config.ThumbnailSize{Width: spec.Width, Height: spec.Height, Method: spec.Method}, true
	}
	return Select(t.cfg.Sizes, spec.Width, spec.Height, spec.Method)
}

// Select chooses among the configured sizes as Synapse's
// _select_thumbnail chooses among stored thumbnails: sizes of the asked
// method first (any size when none has it); among those, ones at least
// as large as asked in one dimension before smaller ones; then, for crop,
// the closest aspect ratio and preferably one covering the whole box; then
// the smallest difference in area.
func Select(sizes []config.ThumbnailSize, w, h int, method string) (config.ThumbnailSize, bool) {
	candidates := make([]config.ThumbnailSize, 0, len(sizes))
	for _, s := range sizes {
		if s.Method == method {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) == 0 {
		candidates = sizes
	}
	var best config.ThumbnailSize
	var bestKey [4]int64
	found := false
	for _, s := range candidates {
		k := quality(s, w, h, method)
		if !found || less(k, bestKey) {
			best, bestKey, found = s, k, true
		}
	}
	return best, found
}

// quality ranks a size for a request; lower is better, compared in order.
func quality(s config.ThumbnailSize, w, h int, method string) [4]int64 {
	tw, th, dw, dh := int64(s.Width), int64(s.Height), int64(w), int64(h)
	smaller := int64(1)
	if tw >= dw || th >= dh {
		smaller = 0
	}
	size := abs((dw - tw) * (dh - th))
	if method != "crop" {
		return [4]int64{smaller, size}
	}
	aspect := abs(dw*th - dh*tw)
	covers := int64(1)
	if dw <= tw && dh <= th {
		covers = 0
	}
	return [4]int64{smaller, aspect, covers, size}
}

func less(a, b [4]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
