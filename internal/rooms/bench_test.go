package rooms

import (
	"context"
	"sync"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// BenchmarkSend measures one local message from request to durable commit,
// sequentially (the latency path: build, sign, auth, one transaction).
func BenchmarkSend(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		e := newEngineB(b, db)
		ctx := context.Background()
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.Send(ctx, roomID, msg("@alice:hs1", "hello"), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSendParallel measures throughput with 8 senders in one room, where
// group commit batches the queued requests into shared transactions.
func BenchmarkSendParallel(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		e := newEngineB(b, db)
		ctx := context.Background()
		roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		var wg sync.WaitGroup
		per := b.N/8 + 1
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					if _, err := e.Send(ctx, roomID, msg("@alice:hs1", "hello"), nil); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

func newEngineB(b *testing.B, db *sqldb.DB) *Engine { return newEngine(b, db) }
