package media

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// streamingOrigin answers every download with size bytes made as they are
// read, counting the downloads.
type streamingOrigin struct {
	size  int64
	calls atomic.Int64
}

type patternBody struct{ left int64 }

func (p *patternBody) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range b[:n] {
		b[i] = byte(i*7 + int(p.left))
	}
	p.left -= n
	return int(n), nil
}

func (o *streamingOrigin) Download(context.Context, string, string, time.Duration) (*RemoteContent, error) {
	o.calls.Add(1)
	return &RemoteContent{ContentType: "application/octet-stream", Body: io.NopCloser(&patternBody{left: o.size})}, nil
}

// BenchmarkRemote_ConcurrentDownloadsOfOneItem: 64 requests at once for
// one remote item not cached yet, each reading it whole. One op is the
// 64; fetches/op is how many times the origin was asked (coalescing makes
// it 1), and the time is until the last request has read the content.
func BenchmarkRemote_ConcurrentDownloadsOfOneItem(b *testing.B) {
	const clients = 64
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		for _, size := range []int64{1 << 20, 10 << 20} {
			b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
				origin := &streamingOrigin{size: size}
				s := newService(b, db, origin, 100<<20)
				ctx := context.Background()
				b.SetBytes(size * clients)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					id := fmt.Sprintf("bench%s%d", b.Name()[len(b.Name())-3:], i)
					var wg sync.WaitGroup
					for range clients {
						wg.Go(func() {
							c, err := s.Open(ctx, "remote.example", id, OpenOptions{AllowRemote: true})
							if err != nil {
								b.Error(err)
								return
							}
							defer c.Object.Close()
							if n, err := io.Copy(io.Discard, c.Object); err != nil || n != size {
								b.Errorf("read %d bytes, %v", n, err)
							}
						})
					}
					wg.Wait()
				}
				b.ReportMetric(float64(origin.calls.Load())/float64(i), "fetches/op")
			})
		}
	})
}
