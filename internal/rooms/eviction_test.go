package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/myelin-chat/myelin/internal/event"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// waitEvicted waits until the engine holds no room in memory. It is a
// bound on a test that would otherwise hang, not a timing assertion: idle
// rooms leave within milliseconds here.
func waitEvicted(t *testing.T, e *Engine) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for e.RoomsInMemory() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d rooms still in memory", e.RoomsInMemory())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type memSample struct {
	heap       uint64
	goroutines int
}

func sampleMemory() memSample {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// Goroutine stacks count: an idle actor's is most of what it costs.
	return memSample{heap: ms.HeapAlloc + ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// Memory follows the rooms in use, not the rooms ever used: touching 5 000
// rooms loads each one's actor and current state, and once they are idle
// both leave memory again.
func TestIdleRoomsLeaveMemory(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		const rooms, workers = 5000, 32
		e := newEngineIdle(t, db, 20*time.Millisecond)
		ctx := context.Background()
		ids := make([]string, rooms)
		each := func(fn func(i int) error) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < rooms; i += workers {
						if err := fn(i); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}
		each(func(i int) (err error) {
			ids[i], err = e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
			return err
		})
		touch := func(i int) error {
			_, err := e.BuildEvent(ctx, ids[i], msg("@alice:hs1", "touch"))
			return err
		}
		// A first pass fills the store's event cache, which is bounded on
		// its own (by count): what the comparison below sees is what the
		// rooms themselves keep.
		each(touch)
		waitEvicted(t, e)
		start := sampleMemory()

		var mu sync.Mutex
		peak := 0
		each(func(i int) error {
			mu.Lock()
			peak = max(peak, e.RoomsInMemory())
			mu.Unlock()
			return touch(i)
		})
		waitEvicted(t, e)
		end := sampleMemory()
		t.Logf("rooms in memory at most %d; heap %d → %d KiB; goroutines %d → %d",
			peak, start.heap>>10, end.heap>>10, start.goroutines, end.goroutines)
		// Generous bounds: 5 000 rooms left in memory cost 5 000
		// goroutines and ~60 MB.
		if end.goroutines > start.goroutines+50 {
			t.Errorf("goroutines grew from %d to %d", start.goroutines, end.goroutines)
		}
		if end.heap > start.heap+12<<20 {
			t.Errorf("heap grew from %d to %d KiB", start.heap>>10, end.heap>>10)
		}
	})
}

// A request that arrives while its room is being evicted is served by a
// fresh actor: never lost, never served by two actors at once. Rooms here
// leave memory as soon as they are idle, so senders race eviction all the
// time; every event must be stored exactly once, in one linear chain (two
// writers would fork the DAG).
func TestSendsRacingEvictionAreStoredOnceByOneWriter(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngineIdle(t, db, time.Microsecond)
		ctx := context.Background()
		const roomsN, senders, perSender = 3, 6, 40
		var roomIDs []string
		for i := 0; i < roomsN; i++ {
			id, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			roomIDs = append(roomIDs, id)
		}
		var wg sync.WaitGroup
		errs := make(chan error, senders*roomsN)
		for _, roomID := range roomIDs {
			for s := 0; s < senders; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < perSender; j++ {
						body := fmt.Sprintf("%d/%d", s, j)
						if _, err := e.Send(ctx, roomID, msg("@alice:hs1", body), nil); err != nil {
							errs <- err
							return
						}
						if j%7 == 0 {
							// let the room go idle now and then
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, roomID := range roomIDs {
			evs, err := e.Store().RoomEvents(ctx, roomID, 0, e.Stream().Current(), 10000, true)
			if err != nil {
				t.Fatal(err)
			}
			bodies := map[string]int{}
			for i, se := range evs {
				if i > 0 {
					prev := se.PrevEventIDs()
					if len(prev) != 1 || prev[0] != evs[i-1].EventID() {
						t.Fatalf("%s: event %d does not follow event %d: two writers", roomID, i, i-1)
					}
				}
				if se.Type() == event.TypeMessage {
					var c struct{ Body string }
					_ = json.Unmarshal(se.Content(), &c)
					bodies[c.Body]++
				}
			}
			if len(bodies) != senders*perSender {
				t.Errorf("%s: %d distinct messages stored, want %d", roomID, len(bodies), senders*perSender)
			}
			for b, n := range bodies {
				if n != 1 {
					t.Errorf("%s: message %s stored %d times", roomID, b, n)
				}
			}
			exts, err := e.Store().ForwardExtremities(ctx, roomID)
			if err != nil || len(exts) != 1 {
				t.Errorf("%s: forward extremities %v, %v", roomID, exts, err)
			}
		}
	})
}

// A room waiting for its idle timeout keeps its state in memory but no
// goroutine: 5 000 rooms touched once kept 5 000 goroutines, with their
// stacks, until they left memory.
func TestIdleRoomsKeepTheirStateButNoGoroutine(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		const rooms = 200
		e := newEngineIdle(t, db, time.Hour)
		ctx := context.Background()
		start := runtime.NumGoroutine()
		ids := make([]string, rooms)
		for i := range ids {
			id, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1", Preset: "public_chat"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.BuildEvent(ctx, id, msg("@alice:hs1", "touch")); err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		if n := e.RoomsInMemory(); n != rooms {
			t.Fatalf("%d rooms in memory, want %d", n, rooms)
		}
		// A bound on a test that would otherwise hang, not a timing
		// assertion: goroutines end as soon as their queue is empty.
		deadline := time.Now().Add(2 * time.Minute)
		for runtime.NumGoroutine() > start+rooms/10 {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines for %d idle rooms (%d before)", runtime.NumGoroutine(), rooms, start)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := e.RoomsInMemory(); n != rooms {
			t.Errorf("%d rooms in memory after they went idle, want %d", n, rooms)
		}
		// Each idle room still serves its next request, from its state.
		for _, id := range ids[:10] {
			if _, err := e.Send(ctx, id, msg("@alice:hs1", "again"), nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
