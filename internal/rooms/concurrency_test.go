package rooms

import (
	"context"
	"testing"

	"github.com/myelin-chat/myelin/internal/storage/roomstore"
	"github.com/myelin-chat/myelin/internal/storage/sqldb"
	"github.com/myelin-chat/myelin/internal/storage/storagetest"
)

// Rooms proceed in parallel: creating and writing to many rooms at once
// must not trip over one another in the database.
func TestManyRoomsCreatedAndWrittenConcurrently(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		const n = 10
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				roomID, err := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
				if err == nil {
					for j := 0; j < 5 && err == nil; j++ {
						_, err = e.Send(ctx, roomID, msg("@alice:hs1", "x"), nil)
					}
				}
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Many concurrent readers on a cold store must not exhaust the reader pool
// (a query's rows are read fully before the next query on the pool).
func TestConcurrentColdReadsDoNotDeadlock(t *testing.T) {
	storagetest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := newEngine(t, db)
		ctx := context.Background()
		roomID, _ := e.CreateRoom(ctx, CreateRoomRequest{Creator: "@alice:hs1"})
		for i := 0; i < 20; i++ {
			e.Send(ctx, roomID, msg("@alice:hs1", "x"), nil)
		}
		cold, err := roomstore.New(ctx, db) // empty caches
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			go func() {
				_, err := cold.RoomEvents(ctx, roomID, 0, e.Stream().Current(), 100, true)
				errs <- err
			}()
		}
		for i := 0; i < 40; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}
