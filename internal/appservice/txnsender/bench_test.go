package txnsender

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/appservice/txnsender/txntest"
	"github.com/myelin-chat/myelin/internal/rooms/roomstest"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// benchRooms makes n rooms in which the appservice's user is joined.
func benchRooms(b *testing.B, r *rig, n int) []string {
	b.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = roomstest.PublicRoom(b, r.engine, "@alice:"+server, "@irc_bob:"+server)
	}
	return out
}

// BenchmarkDelivery measures how fast queued events reach one appservice
// that is in 10, 100 and 1 000 rooms: b.N messages, spread over the rooms,
// are committed first; the timer runs from the sender's start until the
// appservice (on loopback) has accepted them all.
func BenchmarkDelivery(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
				r := newRig(b, db)
				rooms := benchRooms(b, r, n)
				a := txntest.New(b)
				s, err := New(context.Background(), Config{Store: r.store, Rooms: r.engine, AppServices: []AppService{bridge(a)}})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				for i := 0; i < b.N; i++ {
					roomstest.Say(b, r.engine, rooms[i%n], "@alice:"+server, "hello")
				}
				b.ResetTimer()
				start := time.Now()
				s.Start()
				a.WaitEvents(b, b.N)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
		})
	}
}

// BenchmarkLatency measures the time from a send (the room engine's
// acknowledgement) to the appservice's receipt of the event, one message
// at a time, in one of 1 000 rooms.
func BenchmarkLatency(b *testing.B) {
	storagetest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		r := newRig(b, db)
		rooms := benchRooms(b, r, 1000)
		a := txntest.New(b)
		r.sender(b, bridge(a))
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			roomstest.Say(b, r.engine, rooms[i%len(rooms)], "@alice:"+server, "hello")
			a.WaitEvents(b, 1)
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
}
