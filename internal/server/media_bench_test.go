package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/myelin-chat/myelin/internal/server/servertest"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// patternReader yields n bytes of a repeating pattern without holding
// them, so the client side of the benchmark stays small too.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
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

// BenchmarkMedia measures upload and download throughput of 1 MB and
// 100 MB files through the HTTP API on SQLite (content on disk, synced).
// B/op is every allocation of client and server together per file: it
// must not grow with the file size (nothing holds a whole file).
func BenchmarkMedia(b *testing.B) {
	db := storagetest.NewSQLite(b)
	s := servertest.Start(b, db, servertest.Options{ExtraYAML: "max_upload_size: 200M\n"})
	alice := s.Register("alice")
	for _, size := range []int64{1 << 20, 100 << 20} {
		var mxc string
		b.Run(fmt.Sprintf("upload/%dMB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				// ContentLength -1: streamed without a length, the hard case.
				req, _ := http.NewRequest("POST", s.URL+"/_matrix/media/v3/upload", io.NopCloser(&patternReader{left: size}))
				req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var out struct {
					ContentURI string `json:"content_uri"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("upload: %d", resp.StatusCode)
				}
				mxc = out.ContentURI[len("mxc://"):]
			}
		})
		b.Run(fmt.Sprintf("download/%dMB", size>>20), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("GET", s.URL+"/_matrix/client/v1/media/download/"+mxc, nil)
				req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != size {
					b.Fatalf("download: %d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}
