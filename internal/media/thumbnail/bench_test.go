package thumbnail

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far. Reported per
// operation next to ns/op, it stays meaningful on a machine shared with
// other work, where wall time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGenerate measures one thumbnail per iteration, per input
// format, source size and Synapse default size (docs/performance.md).
//
//	go test ./internal/media/thumbnail/ -run XXX -bench Generate -benchmem
func BenchmarkGenerate(b *testing.B) {
	type source struct {
		format, contentType string
		data                []byte
	}
	var sources []source
	for _, s := range [][2]int{{640, 480}, {1920, 1080}} {
		w, h := s[0], s[1]
		sources = append(sources,
			source{fmt.Sprintf("jpeg/%dx%d", w, h), "image/jpeg", encodeJPEG(b, w, h)},
			source{fmt.Sprintf("png/%dx%d", w, h), "image/png", encodePNG(b, w, h, true)},
			source{fmt.Sprintf("gif/%dx%d", w, h), "image/gif", encodeGIF(b, w, h, 1)},
			source{fmt.Sprintf("webp/%dx%d", w, h), "image/webp", readFixture(b, fmt.Sprintf("photo-%dx%d.webp", w, h))},
		)
	}
	boxes := []Request{{32, 32, Crop, false}, {320, 240, Scale, false}, {800, 600, Scale, false}}
	for _, src := range sources {
		for _, req := range boxes {
			b.Run(fmt.Sprintf("%s/%s-%dx%d", src.format, req.Method, req.Width, req.Height), func(b *testing.B) {
				start := cpuTime()
				for b.Loop() {
					if _, err := Generate(bytes.NewReader(src.data), int64(len(src.data)), src.contentType, req, Limits{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
			})
		}
	}
}
