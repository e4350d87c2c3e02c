package syncapi

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/rooms"
	"github.com/myelin-chat/myelin/internal/signing"
	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
	"github.com/myelin-chat/myelin/internal/streams"
)

// syncFixture makes a user in nRooms rooms with nEvents messages each.
func syncFixture(b *testing.B, db *sqldb.DB, nRooms, nEvents int) (*Syncer, *rooms.Engine) {
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := signing.NewSigningKey("bench", make([]byte, 32))
	e := rooms.New(rooms.Config{Store: st, ServerName: "hs1", Key: key, Stream: streams.NewTracker(0), Notifier: streams.NewNotifier()})
	b.Cleanup(e.Close)
	for r := 0; r < nRooms; r++ {
		name := fmt.Sprintf("room %d", r)
		roomID, err := e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:hs1", Name: &name})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < nEvents; i++ {
			m := &event.Builder{Type: event.TypeMessage, Sender: "@alice:hs1", Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": "hello"})}
			if _, err := e.Send(ctx, roomID, m, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	return New(e, nil, nil), e
}

// BenchmarkInitialSync: a user in 100 rooms of 20 events each, default filter.
func BenchmarkInitialSync(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		s, _ := syncFixture(b, db, 100, 20)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := s.Sync(ctx, Request{UserID: "@alice:hs1", DeviceID: "D"})
			if err != nil || len(resp.Rooms.Join) != 100 {
				b.Fatalf("sync: %v, %d rooms", err, len(resp.Rooms.Join))
			}
		}
	})
}

// BenchmarkIncrementalSync: the same user, in 100 and in 1 000 rooms, asks
// what is new after one message.
func BenchmarkIncrementalSync(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				s, e := syncFixture(b, db, n, 20)
				ctx := context.Background()
				since := Token(e.Stream().Current())
				ms, _ := e.Store().RoomsForUser(ctx, "@alice:hs1", event.Join)
				m := &event.Builder{Type: event.TypeMessage, Sender: "@alice:hs1", Content: rooms.Content(map[string]any{"body": "new"})}
				if _, err := e.Send(ctx, ms[0].RoomID, m, nil); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					resp, err := s.Sync(ctx, Request{UserID: "@alice:hs1", DeviceID: "D", Since: since})
					if err != nil || len(resp.Rooms.Join) != 1 {
						b.Fatalf("sync: %v, %d rooms", err, len(resp.Rooms.Join))
					}
				}
			})
		})
	}
}

// BenchmarkInitialSyncManyRooms: a user in 5 000 rooms of one message each
// (issue 10's size), default filter.
func BenchmarkInitialSyncManyRooms(b *testing.B) {
	db := storagetest.NewSQLite(b)
	s, e := syncFixtureParallel(b, db, 5000, 1)
	_ = e
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := s.Sync(ctx, Request{UserID: "@alice:hs1", DeviceID: "D"})
		if err != nil || len(resp.Rooms.Join) != 5000 {
			b.Fatalf("sync: %v, %d rooms", err, len(resp.Rooms.Join))
		}
	}
}

func syncFixtureParallel(b *testing.B, db *sqldb.DB, nRooms, nEvents int) (*Syncer, *rooms.Engine) {
	ctx := context.Background()
	st, err := roomstore.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := signing.NewSigningKey("bench", make([]byte, 32))
	e := rooms.New(rooms.Config{Store: st, ServerName: "hs1", Key: key, Stream: streams.NewTracker(0), Notifier: streams.NewNotifier()})
	b.Cleanup(e.Close)
	var wg sync.WaitGroup
	const workers = 32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := w; r < nRooms; r += workers {
				name := fmt.Sprintf("room %d", r)
				roomID, err := e.CreateRoom(ctx, rooms.CreateRoomRequest{Creator: "@alice:hs1", Name: &name})
				if err != nil {
					b.Error(err)
					return
				}
				for i := 0; i < nEvents; i++ {
					m := &event.Builder{Type: event.TypeMessage, Sender: "@alice:hs1", Content: rooms.Content(map[string]any{"msgtype": "m.text", "body": "hello"})}
					if _, err := e.Send(ctx, roomID, m, nil); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return New(e, nil, nil), e
}

// BenchmarkInitialSyncManyRoomsJSON is BenchmarkInitialSyncManyRooms as the
// server answers it, encoded, and reports what the build keeps alive
// beyond the server's steady state: the most the collector found live
// during the syncs (/gc/heap/live, sampled every millisecond) minus what
// was live before them. The collector lets the heap grow in proportion to
// that, so it is what a large initial sync costs in memory.
func BenchmarkInitialSyncManyRoomsJSON(b *testing.B) {
	db := storagetest.NewSQLite(b)
	s, _ := syncFixtureParallel(b, db, 5000, 1)
	ctx := context.Background()
	live := func() uint64 {
		m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(m)
		return m[0].Value.Uint64()
	}
	if _, err := s.SyncJSON(ctx, Request{UserID: "@alice:hs1", DeviceID: "D"}); err != nil { // warm the cache
		b.Fatal(err)
	}
	runtime.GC()
	base := live()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if l := live(); l > peak.Load() {
					peak.Store(l)
				}
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, err := s.SyncJSON(ctx, Request{UserID: "@alice:hs1", DeviceID: "D"})
		if err != nil || body.Len() < 5000*1000 {
			b.Fatalf("sync: %v, %d bytes", err, body.Len())
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(base)/(1<<20), "steady-live-MiB")
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base))/(1<<20), "burst-live-MiB")
}
