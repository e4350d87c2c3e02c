package sender_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/myelin-chat/myelin/internal/federation/sender"
	"github.com/myelin-chat/myelin/internal/storage/fedqueue"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// BenchmarkSendPDU is the cost SendPDU adds to a commit: persisting one
// ~100-byte-content event for 1, 10 and 100 destinations. The sender is
// not started, so only enqueueing is measured.
func BenchmarkSendPDU(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		store, err := fedqueue.New(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("destinations=%d", n), func(b *testing.B) {
				dests := make([]string, n)
				for i := range dests {
					dests[i] = fmt.Sprintf("s%d.example", i)
				}
				s := sender.New(sender.Config{ServerName: ourName, Store: store, Transport: newFakeTransport()})
				defer s.Stop()
				evs := events(b, fmt.Sprintf("!bench%d:%s", n, ourName), 64)
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := s.SendPDU(ctx, evs[i%len(evs)], dests); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
